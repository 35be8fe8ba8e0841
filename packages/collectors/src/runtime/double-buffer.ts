// SPDX-License-Identifier: Apache-2.0
/**
 * User-space side of FT_DB_CTL (bpf/include/ft_common.h): flips the active
 * buffer and waits until no program can still write the old one.
 */
import { BpfObject, constant } from '@fleettrace/native';
import { layouts } from './shapes.gen';

const CTL = layouts.ft_db_ctl;

export class DoubleBufferControl {
  private state = { active: 0 as 0 | 1, stream: 0, stackGen: 0 };

  constructor(
    private readonly obj: BpfObject,
    private readonly ctlMap: string,
  ) {}

  get active(): 0 | 1 {
    return this.state.active;
  }

  /**
   * Makes the idle buffer active and returns the previously active one, which
   * no program writes any more once this returns: the update of the `_sync`
   * map-in-map slot completes only after an RCU grace period, and every BPF
   * program that read the old `active` ran inside one.
   */
  flip(): 0 | 1 {
    const old = this.state.active;
    this.state.active = old === 0 ? 1 : 0;
    this.publish();
    return old;
  }

  setStream(on: boolean): void {
    this.state.stream = on ? 1 : 0;
    this.publish();
  }

  /** Tells programs that ids stored before now refer to a cleared stack map. */
  bumpStackGeneration(): void {
    this.state.stackGen++;
    this.publish();
  }

  private publish(): void {
    const value = Buffer.alloc(CTL.size);
    value.writeUInt32LE(this.state.active, CTL.fields.active.offset);
    value.writeUInt32LE(this.state.stream, CTL.fields.stream.offset);
    value.writeUInt32LE(this.state.stackGen >>> 0, CTL.fields.stack_gen.offset);
    this.obj.update(this.ctlMap, constant.u32(0), value);
    this.obj.update(
      `${this.ctlMap}_sync`,
      constant.u32(0),
      constant.u32(this.obj.mapFd(this.ctlMap)),
    );
  }
}

/** Sums a per-CPU u64 array map slot by slot. */
export function perCpuArraySums(obj: BpfObject, map: string, slots: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < slots; i++) {
    const v = obj.lookup(map, constant.u32(i));
    let sum = 0n;
    if (v) for (let at = 0; at + 8 <= v.length; at += 8) sum += v.readBigUInt64LE(at);
    out.push(Number(sum));
  }
  return out;
}
