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
   * event of the host.
   */
  attachDutyCycled(): this {
    this.dutyCycle = new LinkDutyCycle(this.obj);
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

/** Detaches and re-attaches the programs attachAll() attaches; see ft_duty in ft_common.h. */
class LinkDutyCycle implements DutyCycleControl {
  private links: number[] = [];
  private on = false;

  constructor(private readonly obj: BpfObject) {}

  attached(): boolean {
    return this.on;
  }

  setAttached(attached: boolean): void {
    if (attached === this.on) return;
    if (!attached) {
      for (const link of this.links.splice(0)) this.obj.detach(link);
      this.on = false;
      return;
    }
    // bpf_ktime_get_ns() and process.hrtime() both read CLOCK_MONOTONIC.
    this.obj.update('ft_duty', constant.u32(0), constant.u64(process.hrtime.bigint()));
    this.links = this.obj.attachAll();
    this.on = true;
  }
}
