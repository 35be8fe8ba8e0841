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
import { memoryCaches, type TrackedCache } from '@fleettrace/common';
import { BpfSession } from './bpf-session';
import type { DrainResult, HostContext } from './definition';
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
 * kernel's boot-time stamp into UTC (see native bootTimeOffsetNs). Hot path:
 * one object, no spreads.
 */
export function decodeHeader(
  header: StructLayout,
  record: Buffer,
  host: HostContext,
  offsetNs: bigint,
  base = 0,
): EventIdentity {
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
  };
}

/** The collector-specific event kind of a header. */
export function headerKind(header: StructLayout, record: Buffer, base = 0): number {
  return readU32(
    record,
    (header.fields as Record<string, NonNullable<StructLayout['fields'][string]>>).kind!,
    base,
  );
}

export interface RingSessionOptions<Row> {
  obj: BpfObject;
  ringMap: string;
  /** loss causes: cause name -> [per-CPU u64 array map, slot]; their sum is the loss */
  lost: Record<string, [map: string, slot: number]>;
  /** returns undefined for records to skip */
  decode(record: Buffer, offsetNs: bigint): Row | undefined;
  /**
   * Undecoded records held in JavaScript beyond this pause the native reader
   * (the kernel ring then fills and its BPF side counts the loss); it resumes
   * below half of it.
   */
  maxQueuedRecords?: number;
  /**
   * The same bound in bytes of record data (default 32 MiB): exec records
   * with their arguments run to kilobytes, and an agent starved of CPU would
   * otherwise hold 200,000 of them.
   */
  maxQueuedBytes?: number;
  /** called with each decoded row as it is decoded, e.g. to record mappings of new pids */
  onRow?(row: Row): void;
  /** lowers the cost when over budget; see CollectorSession.degrade */
  degrade?(): string | undefined;
}

/** Bytes of record data in a delivery. */
function bytesOf(records: Buffer[]): number {
  let n = 0;
  for (const r of records) n += r.length;
  return n;
}

/** Decoding runs in slices of at most this long, so timers (drains, heartbeats) keep running. */
const DECODE_SLICE_MS = 10;

export class RingSession<Row> extends BpfSession<Row> {
  private readonly reader: RingBufferReader;
  /** record views as the reader delivered them, not decoded yet */
  private pending: Buffer[][] = [];
  private pendingRecords = 0;
  private pendingBytes = 0;
  private rows: Row[] = [];
  private lostSeen: Record<string, number> = {};
  private offsetNs = bootTimeOffsetNs();
  private decodeScheduled = false;
  private paused = false;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  /** Undecoded records as a tracked cache: size and bound in /metrics (nothing to shrink). */
  private readonly memory: TrackedCache = {
    figures: () => ({
      name: `undecoded.${this.opts.ringMap}`,
      entries: this.pendingRecords,
      bytes: this.pendingBytes,
      maxBytes: this.maxQueuedBytes,
      evictions: 0,
    }),
    shrink: () => undefined,
  };

  constructor(private readonly opts: RingSessionOptions<Row>) {
    super(opts.obj);
    this.maxQueued = opts.maxQueuedRecords ?? 200_000;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 32 << 20;
    memoryCaches.register(this.memory);
    // The reader's callback only queues: a flood of events must not hold the
    // event loop inside native callbacks.
    this.reader = opts.obj.openRingBuffer(opts.ringMap, (records) => {
      this.pending.push(records);
      this.pendingRecords += records.length;
      this.pendingBytes += bytesOf(records);
      if (
        !this.paused &&
        (this.pendingRecords >= this.maxQueued || this.pendingBytes >= this.maxQueuedBytes)
      ) {
        this.paused = true;
        this.reader.pause();
      }
      this.scheduleDecode();
    });
  }

  private scheduleDecode(): void {
    if (this.decodeScheduled) return;
    this.decodeScheduled = true;
    setImmediate(() => {
      this.decodeScheduled = false;
      this.decode(DECODE_SLICE_MS);
      if (this.pending.length > 0) this.scheduleDecode();
    });
  }

  /** Decodes queued records for up to `budgetMs` (Infinity: all of them). */
  private decode(budgetMs: number): void {
    const until = performance.now() + budgetMs;
    while (this.pending.length > 0) {
      const records = this.pending.shift() as Buffer[];
      this.pendingRecords -= records.length;
      this.pendingBytes -= bytesOf(records);
      for (const record of records) {
        const row = this.opts.decode(record, this.offsetNs);
        if (row === undefined) continue;
        this.opts.onRow?.(row);
        this.rows.push(row);
      }
      if (performance.now() >= until) break;
    }
    if (
      this.paused &&
      this.pendingRecords < this.maxQueued / 2 &&
      this.pendingBytes < this.maxQueuedBytes / 2
    ) {
      this.paused = false;
      this.reader.resume();
    }
  }

  async drain(): Promise<DrainResult<Row>> {
    // The REALTIME - BOOTTIME offset moves with NTP: re-measure once per interval.
    this.offsetNs = bootTimeOffsetNs();
    // Everything the kernel committed until now arrives, then all of it is
    // decoded (bounded by maxQueuedRecords).
    await this.reader.flush();
    this.decode(Infinity);
    const rows = this.rows;
    this.rows = [];
    const now = this.lostByCause();
    const lostDetail: Record<string, number> = {};
    let lost = 0;
    for (const [cause, n] of Object.entries(now)) {
      lostDetail[cause] = n - (this.lostSeen[cause] ?? 0);
      lost += lostDetail[cause];
    }
    this.lostSeen = now;
    return { rows, lost, lostDetail };
  }

  /** Loss per cause since the start, as counted by the kernel side. */
  lostByCause(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [cause, [map, slot]] of Object.entries(this.opts.lost)) {
      const value = this.obj.lookup(map, constant.u32(slot));
      out[cause] = value
        ? perCpuSlots(value, 8).reduce((a, s) => a + Number(s.readBigUInt64LE(0)), 0)
        : 0;
    }
    return out;
  }

  readerStats() {
    return this.reader.stats();
  }

  degrade(): string | undefined {
    return this.opts.degrade?.();
  }
}
