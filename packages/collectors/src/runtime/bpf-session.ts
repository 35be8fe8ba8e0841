// SPDX-License-Identifier: Apache-2.0
import type { BpfObject, ProgramStats } from '@fleettrace/native';
import { constant } from '@fleettrace/native';
import type { CollectorSession, DrainResult, DutyCycleControl } from './definition';
import { applyKernelFilter, type KernelFilter } from './filters';

/**
 * What every session over one loaded BPF object does the same way: run-time
 * statistics of its programs, the kernel filter, and close. Collectors add
 * drain() (and degrade() where they can lower their cost).
 */
export abstract class BpfSession<Row> implements CollectorSession<Row> {
  dutyCycle?: DutyCycleControl;

  constructor(protected readonly obj: BpfObject) {}

  /**
   * Attaches every loaded program and lets the agent duty-cycle them (see
   * CollectorSession.dutyCycle). For collectors whose hooks run on every
   * event of the host. With `counter`, that program stays attached alone
   * while the others are detached and counts what they would have (see
   * DutyCycleControl.countsWhileDetached).
   */
  attachDutyCycled(counter?: DetachedCounter): this {
    this.dutyCycle = new LinkDutyCycle(this.obj, counter);
    this.dutyCycle.setAttached(true);
    return this;
  }

  abstract drain(): Promise<DrainResult<Row>>;

  /** Programs not loaded (autoload off) have no statistics. */
  programStats(): ProgramStats[] {
    return this.obj
      .programs()
      .filter((p) => p.fd >= 0)
      .map((p) => this.obj.programStats(p.name));
  }

  setKernelFilter(filter: KernelFilter): void {
    applyKernelFilter(this.obj, filter);
  }

  async close(): Promise<void> {
    await this.obj.close();
  }
}

/**
 * A program that counts while a duty-cycled collector's others are detached,
 * and the one-slot u32 array map saying which side counts: 0 the collector's
 * programs, 1 this one. The hand-over attaches the side taking over, flips
 * the flag, then detaches the other, so every event is counted by exactly one.
 */
export interface DetachedCounter {
  program: string;
  flagMap: string;
}

/**
 * Detaches and re-attaches the loaded programs (but a DetachedCounter's, which
 * runs the other way round); see ft_duty in ft_common.h.
 */
class LinkDutyCycle implements DutyCycleControl {
  private links: number[] = [];
  private counterLink?: number;
  private on = false;
  private counting: boolean;

  constructor(
    private readonly obj: BpfObject,
    private readonly counter?: DetachedCounter,
  ) {
    this.counting = counter !== undefined;
  }

  get countsWhileDetached(): boolean {
    return this.counting;
  }

  setCounting(on: boolean): void {
    const counter = this.counter;
    if (!counter || on === this.counting) return;
    this.counting = on;
    if (this.on) return; // attached: the counter takes over at the next detach, if on
    if (on) {
      this.startCounter(counter);
    } else if (this.counterLink !== undefined) {
      this.obj.detach(this.counterLink);
      this.counterLink = undefined;
    }
  }

  /** Attaches the counter and hands counting to it (the collector's programs then skip it). */
  private startCounter(counter: DetachedCounter): void {
    this.counterLink = this.obj.attach(counter.program);
    this.obj.update(counter.flagMap, constant.u32(0), constant.u32(1));
  }

  attached(): boolean {
    return this.on;
  }

  setAttached(attached: boolean): void {
    if (attached === this.on) return;
    const counter = this.counter;
    if (!attached) {
      if (counter && this.counting) this.startCounter(counter);
      for (const link of this.links.splice(0)) this.obj.detach(link);
      this.on = false;
      return;
    }
    // bpf_ktime_get_ns() and process.hrtime() both read CLOCK_MONOTONIC.
    this.obj.update('ft_duty', constant.u32(0), constant.u64(process.hrtime.bigint()));
    this.links = this.obj
      .programs()
      .filter((p) => p.autoload && p.fd >= 0 && p.name !== counter?.program)
      .map((p) => this.obj.attach(p.name));
    if (counter) {
      this.obj.update(counter.flagMap, constant.u32(0), constant.u32(0));
      if (this.counterLink !== undefined) this.obj.detach(this.counterLink);
      this.counterLink = undefined;
    }
    this.on = true;
  }
}
