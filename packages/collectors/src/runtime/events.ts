// SPDX-License-Identifier: Apache-2.0
/**
 * Event collectors: a ring buffer drained by a native reader thread into a
 * queue that drain() empties. Loss is what the kernel side counted (failed
 * reservations, rate limits), read from the collector's per-CPU loss map.
 */
import {
  BpfObject,
  bootTimeOffsetNs,
  constant,
  perCpuSlots,
  type RingBufferReader,
} from '@fleettrace/native';
import type { CollectorSession, DrainResult, HostContext } from './definition';
import { applyKernelFilter, type KernelFilter } from './filters';
import { readChars, readU32, readU64, type StructLayout } from './layout';

/** The identity every event row carries (DESIGN.md: uid is the customer). */
export interface EventIdentity {
  /** UTC Unix ns */
  ts_ns: bigint;
  pid: number;
  tid: number;
  uid: number;
  user: string;
  comm: string;
  cgroup: string;
}

/**
 * Decodes the ft_event_header at `base` of a record. `offsetNs` turns the
 * kernel's boot-time stamp into UTC (see native bootTimeOffsetNs).
 */
export function decodeHeader(
  header: StructLayout,
  record: Buffer,
  host: HostContext,
  offsetNs: bigint,
  base = 0,
): EventIdentity & { kind: number } {
  const f = header.fields as Record<string, NonNullable<StructLayout['fields'][string]>>;
  const uid = readU32(record, f.uid!, base);
  return {
    ts_ns: readU64(record, f.ts_ns!, base) + offsetNs,
    pid: readU32(record, f.pid!, base),
    tid: readU32(record, f.tid!, base),
    uid,
    user: host.users.name(uid),
    comm: readChars(record, f.comm!, base),
    cgroup: host.cgroups.path(readU64(record, f.cgroup!, base)),
    kind: readU32(record, f.kind!, base),
  };
}

export interface RingSessionOptions<Row> {
  obj: BpfObject;
  ringMap: string;
  /** loss causes: cause name -> [per-CPU u64 array map, slot]; their sum is the loss */
  lost: Record<string, [map: string, slot: number]>;
  /** returns undefined for records to skip */
  decode(record: Buffer, offsetNs: bigint): Row | undefined;
  /** queued rows beyond this are discarded and counted as lost (JavaScript-side bound) */
  maxQueuedRows?: number;
  /** called with each decoded row as it arrives (before drain), e.g. to record mappings of new pids */
  onRow?(row: Row): void;
  /** lowers the cost when over budget; see CollectorSession.degrade */
  degrade?(): string | undefined;
}

export class RingSession<Row> implements CollectorSession<Row> {
  private readonly reader: RingBufferReader;
  private queue: Row[] = [];
  private lostSeen: Record<string, number> = {};
  private queueDropped = 0;
  private offsetNs = bootTimeOffsetNs();
  private closed = false;

  constructor(private readonly opts: RingSessionOptions<Row>) {
    const max = opts.maxQueuedRows ?? 1_000_000;
    this.reader = opts.obj.openRingBuffer(opts.ringMap, (records) => {
      for (const record of records) {
        const row = opts.decode(record, this.offsetNs);
        if (row === undefined) continue;
        if (this.queue.length >= max) {
          this.queueDropped++;
          continue;
        }
        opts.onRow?.(row);
        this.queue.push(row);
      }
    });
  }

  async drain(): Promise<DrainResult<Row>> {
    // The REALTIME - BOOTTIME offset moves with NTP: re-measure once per interval.
    this.offsetNs = bootTimeOffsetNs();
    await new Promise((r) => setImmediate(r));
    const rows = this.queue;
    this.queue = [];
    const now = this.lostByCause();
    const lostDetail: Record<string, number> = {};
    let lost = this.queueDropped;
    for (const [cause, n] of Object.entries(now)) {
      lostDetail[cause] = n - (this.lostSeen[cause] ?? 0);
      lost += lostDetail[cause];
    }
    if (this.queueDropped) lostDetail['agent queue full'] = this.queueDropped;
    this.lostSeen = now;
    this.queueDropped = 0;
    return { rows, lost, lostDetail };
  }

  /** Loss per cause since the start, as counted by the kernel side. */
  lostByCause(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [cause, [map, slot]] of Object.entries(this.opts.lost)) {
      const value = this.opts.obj.lookup(map, constant.u32(slot));
      out[cause] = value
        ? perCpuSlots(value, 8).reduce((a, s) => a + Number(s.readBigUInt64LE(0)), 0)
        : 0;
    }
    return out;
  }

  readerStats() {
    return this.reader.stats();
  }

  programStats() {
    return this.opts.obj
      .programs()
      .filter((p) => p.fd >= 0)
      .map((p) => this.opts.obj.programStats(p.name));
  }

  degrade(): string | undefined {
    return this.opts.degrade?.();
  }

  setKernelFilter(filter: KernelFilter): void {
    applyKernelFilter(this.opts.obj, filter);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.opts.obj.close();
  }
}
