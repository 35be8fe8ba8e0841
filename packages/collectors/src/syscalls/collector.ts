// SPDX-License-Identifier: Apache-2.0
/**
 * syscalls: per (pid, uid, syscall) calls, total time and a log2 latency
 * histogram, and per errno error counts, aggregated in the kernel
 * (bpf/syscalls/syscalls.bpf.c).
 *
 * Drain protocol (no increment lost): the programs reach the live maps through
 * one-slot map-in-map slots. drain() points each slot at the idle map; the
 * kernel completes that update only after every program that could still hold
 * the old map has finished (an RCU grace period), so the old map is then read
 * and cleared with nobody writing to it. Stats and errors are swapped one after
 * the other, so an error can be reported one interval after its call.
 * ft_sc_count's per-CPU caches are swapped the same way, before the overflow
 * maps they empty into: a call is in exactly one cache slot or map when read.
 */
import { errnoName, formatNs, syscallName } from '@fleettrace/common';
import { BpfObject, constant, perCpuSlots, type MapDump } from '@fleettrace/native';
import type {
  CollectorDefinition,
  DrainResult,
  HostContext,
  SummaryTable,
} from '../runtime/definition';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { addU32Array, readChars, readU32, readU64, readU64Number } from '../runtime/layout';
import { BpfSession } from '../runtime/bpf-session';
import { layouts } from './layout.gen';
import { latencyCells } from '../runtime/aggregate-session';
import { parseParamsWith } from '@fleettrace/collector-spec';
import { manifest } from './manifest';

export interface SyscallsParams {
  /** max_entries of the (pid, uid, syscall) maps */
  maxEntries: number;
  /** calls timed per task per scheduler tick, 0 = every call (see syscalls.bpf.c) */
  maxTimedPerTick: number;
  /** max_entries of the (uid, comm, syscall) overflow maps */
  overflowEntries: number;
  /** duty-cycled, count every call while detached (ft_sc_count) */
  countWhileDetached: boolean;
}

export interface SyscallRow {
  /** end of the interval, UTC Unix ns */
  ts_ns: bigint;
  pid: number;
  uid: number;
  user: string;
  comm: string;
  cgroup: string;
  nr: number;
  syscall: string;
  count: number;
  /**
   * time spent in these calls, ns; measured on the timed sample of calls and
   * scaled to `count` (exact when every call was timed)
   */
  total_ns: number;
  /** log2 ns slots: slot s counts latencies in [2^s, 2^(s+1)); scaled to sum to `count` */
  hist: number[];
  errors: number;
  /** errno name -> count */
  errnos: Record<string, number>;
}

/** Each live map (through its one-slot outer map) and its two buffers. */
const SWAPS = [
  ['ft_sc_stats', 'ft_sc_stats_a', 'ft_sc_stats_b'],
  ['ft_sc_errs', 'ft_sc_errs_a', 'ft_sc_errs_b'],
  ['ft_sc_cstats', 'ft_sc_cstats_a', 'ft_sc_cstats_b'],
  ['ft_sc_cerrs', 'ft_sc_cerrs_a', 'ft_sc_cerrs_b'],
] as const;
const K = layouts.sc_key.fields;
const V = layouts.sc_value.fields;
const EK = layouts.sc_err_key.fields;
const CK = layouts.sc_coarse_key.fields;
const CACHE = layouts.sc_cache;
const SLOT = layouts.sc_cache_slot;

/** FNV-1a of a comm up to its NUL, as sc_comm_hash computes the overflow key's comm_hash. */
export function commHash(comm: Buffer): number {
  let h = 2166136261;
  for (const c of comm) {
    if (c === 0) break;
    h = Math.imul(h ^ c, 16777619) >>> 0;
  }
  return h;
}

/**
 * Rows with this pid hold the calls that did not fit the per-process map
 * (processes coming and going faster than the drain empties it), summed per
 * (uid, comm, syscall): per-user and per-command totals stay exact.
 */
export const OVERFLOW_PID = 0;

class SyscallsSession extends BpfSession<SyscallRow> {
  /** per entry of SWAPS, which buffer the programs write */
  private readonly active: Array<0 | 1> = SWAPS.map(() => 0);
  /** which of ft_sc_cache_a/b ft_sc_count writes */
  private cacheActive: 0 | 1 = 0;
  private lostSeen = 0n;

  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
    /** ft_sc_count is loaded: its caches are drained */
    private readonly counts: boolean,
  ) {
    super(obj);
  }

  private coarsenedSeen = 0n;
  private coarse = false;

  /**
   * Under process churn every short-lived process makes its own rows (one per
   * syscall it used): count per (uid, comm, syscall) only, pid 0, as when the
   * per-process map is full. Per-user and per-command totals stay exact.
   */
  degrade(): string | undefined {
    if (this.coarse) return undefined;
    this.coarse = true;
    this.obj.update('ft_sc_coarse', constant.u32(0), constant.u32(1));
    return 'syscalls: counted per (uid, comm, syscall), not per process (pid 0 in rows)';
  }

  /**
   * Points one-slot outer map `outer` at the buffer of `inner` other than
   * `live` and returns its index. The update returns after an RCU grace
   * period: no program writes the old buffer afterwards.
   */
  private swap(outer: string, inner: readonly string[], live: 0 | 1): 0 | 1 {
    const next = live === 0 ? 1 : 0;
    this.obj.update(outer, constant.u32(0), constant.u32(this.obj.mapFd(inner[next]!)));
    return next;
  }

  /**
   * The calls in ft_sc_count's caches, per CPU slot; they are emptied. The
   * live cache is swapped first (an RCU grace period) unless it is empty:
   * what ft_sc_count adds after that look is read at the next drain.
   */
  private takeCache(): Buffer[] {
    if (!this.counts) return [];
    const zero = constant.u32(0);
    const names = ['ft_sc_cache_a', 'ft_sc_cache_b'] as const;
    const live = this.cacheActive;
    const isUsed = (slot: Buffer) => readU64(slot, SLOT.fields.count) !== 0n;
    const slotsOf = (value: Buffer) =>
      perCpuSlots(value, CACHE.size).flatMap((cpu) =>
        Array.from({ length: CACHE.fields.slot.count ?? 0 }, (_, i) =>
          cpu.subarray(i * SLOT.size, (i + 1) * SLOT.size),
        ),
      );
    const now = this.obj.lookup(names[live], zero);
    if (!now || !slotsOf(now).some(isUsed)) return [];
    this.cacheActive = this.swap('ft_sc_cache', names, live);
    const old = this.obj.lookup(names[live], zero)!;
    this.obj.update(names[live], zero, Buffer.alloc(old.length));
    return slotsOf(old).filter(isUsed);
  }

  async drain(): Promise<DrainResult<SyscallRow>> {
    const cached = this.takeCache();
    const [stats, errs, cstats, cerrs] = SWAPS.map(([outer, ...inner], i) => {
      const live = this.active[i]!;
      // The overflow maps are empty but under churn: no swap (an RCU grace period each) for nothing.
      // What a program adds after this look is in the map at the next drain.
      if (i >= 2 && this.obj.dump(inner[live]).count === 0) return EMPTY;
      this.active[i] = this.swap(outer, inner, live);
      return this.obj.dump(inner[live], { delete: true });
    }) as [MapDump, MapDump, MapDump, MapDump];
    const lostTotal = this.obj.sumPerCpuCounter('ft_sc_lost');
    const lost = Number(lostTotal - this.lostSeen);
    this.lostSeen = lostTotal;
    const coarsenedTotal = this.obj.sumPerCpuCounter('ft_sc_coarsened');
    let coarsened = Number(coarsenedTotal - this.coarsenedSeen);
    this.coarsenedSeen = coarsenedTotal;

    const ts = BigInt(Date.now()) * 1_000_000n;
    const rows = new Map<string, SyscallRow>();
    const timed = new Map<SyscallRow, number>();
    const row = (pid: number, uid: number, nr: number, commHash = 0): SyscallRow => {
      const id = `${pid}/${uid}/${nr}/${commHash}`;
      let r = rows.get(id);
      if (!r) {
        r = {
          ts_ns: ts,
          pid,
          uid,
          user: this.host.users.name(uid),
          comm: '',
          cgroup: '',
          nr,
          syscall: syscallName(nr),
          count: 0,
          total_ns: 0,
          hist: new Array<number>(V.hist.count).fill(0),
          errors: 0,
          errnos: {},
        };
        rows.set(id, r);
      }
      return r;
    };

    const addStats = (r: SyscallRow, value: Buffer) => {
      for (const slot of perCpuSlots(value, layouts.sc_value.size)) {
        const count = readU64Number(slot, V.count);
        if (count === 0) continue;
        r.count += count;
        timed.set(r, (timed.get(r) ?? 0) + readU64Number(slot, V.timed));
        r.total_ns += readU64Number(slot, V.total_ns);
        addU32Array(r.hist, slot, V.hist);
        if (!r.comm) r.comm = readChars(slot, V.comm);
        if (!r.cgroup) {
          const cg = readU64(slot, V.cgroup);
          if (cg !== 0n) r.cgroup = this.host.cgroups.path(cg);
        }
      }
    };
    const addErrors = (r: SyscallRow, errno: number, value: Buffer) => {
      let n = 0;
      for (const slot of perCpuSlots(value, 8)) n += Number(slot.readBigUInt64LE(0));
      const name = errnoName(errno);
      r.errors += n;
      r.errnos[name] = (r.errnos[name] ?? 0) + n;
    };
    for (const [key, value] of entries(stats))
      addStats(row(readU32(key, K.pid), readU32(key, K.uid), readU32(key, K.nr)), value);
    for (const [key, value] of entries(errs))
      addErrors(
        row(readU32(key, EK.pid), readU32(key, EK.uid), readU32(key, EK.nr)),
        readU32(key, EK.err),
        value,
      );
    for (const [key, value] of entries(cstats))
      addStats(
        row(OVERFLOW_PID, readU32(key, CK.uid), readU32(key, CK.nr), readU32(key, CK.comm_hash)),
        value,
      );
    for (const [key, value] of entries(cerrs))
      addErrors(
        row(OVERFLOW_PID, readU32(key, CK.uid), readU32(key, CK.nr), readU32(key, CK.comm_hash)),
        readU32(key, CK.err),
        value,
      );
    for (const slot of cached) {
      const comm = slot.subarray(SLOT.fields.comm.offset, SLOT.fields.comm.offset + 16);
      const r = row(
        OVERFLOW_PID,
        readU32(slot, SLOT.fields.uid),
        readU32(slot, SLOT.fields.nr),
        commHash(comm),
      );
      const n = readU64Number(slot, SLOT.fields.count);
      r.count += n;
      coarsened += n; // counted per (uid, comm, syscall): ft_sc_coarsened has them once evicted
      if (!r.comm) r.comm = readChars(slot, SLOT.fields.comm);
      if (!r.cgroup) {
        const cg = readU64(slot, SLOT.fields.cgroup);
        if (cg !== 0n) r.cgroup = this.host.cgroups.path(cg);
      }
    }
    scaleSampledLatency(rows.values(), timed);
    return { rows: [...rows.values()], lost, coarsened };
  }
}

const EMPTY: MapDump = {
  count: 0,
  keys: Buffer.alloc(0),
  values: Buffer.alloc(0),
  keySize: 0,
  valueSize: 0,
  batched: false,
};

function* entries(d: MapDump): Generator<[Buffer, Buffer]> {
  for (let i = 0; i < d.count; i++)
    yield [
      d.keys.subarray(i * d.keySize, (i + 1) * d.keySize),
      d.values.subarray(i * d.valueSize, (i + 1) * d.valueSize),
    ];
}

/**
 * Scales the latency of rows whose calls were only partly timed to their call
 * count: total_ns by count/timed, the histogram by largest remainders so its
 * buckets still sum to the count. A row with no timed call borrows the
 * distribution of the same syscall over the other processes of the interval.
 */
export function scaleSampledLatency(rows: Iterable<SyscallRow>, timed: Map<SyscallRow, number>) {
  const all = [...rows];
  const byNr = new Map<number, { hist: number[]; total: number; timed: number }>();
  for (const r of all) {
    const t = timed.get(r) ?? 0;
    if (t === 0) continue;
    const agg = byNr.get(r.nr) ?? {
      hist: new Array<number>(r.hist.length).fill(0),
      total: 0,
      timed: 0,
    };
    r.hist.forEach((n, i) => (agg.hist[i]! += n));
    agg.total += r.total_ns;
    agg.timed += t;
    byNr.set(r.nr, agg);
  }
  for (const r of all) {
    const t = timed.get(r) ?? 0;
    if (t >= r.count || r.count === 0) continue;
    const src = t > 0 ? { hist: r.hist, total: r.total_ns, timed: t } : byNr.get(r.nr);
    if (!src) continue;
    r.total_ns = Math.round((src.total * r.count) / src.timed);
    r.hist = scaleHistogram(src.hist, r.count);
  }
}

/** `hist` scaled to sum exactly to `target` (largest-remainder rounding). */
export function scaleHistogram(hist: number[], target: number): number[] {
  const sum = hist.reduce((a, b) => a + b, 0);
  if (sum === 0) return hist.map(() => 0);
  const exact = hist.map((n) => (n * target) / sum);
  const out = exact.map(Math.floor);
  let missing = target - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (missing <= 0) break;
    out[i]!++;
    missing--;
  }
  return out;
}

/** Sums rows of several intervals, per syscall or per (process, syscall). */
export function mergeSyscallRows(rows: SyscallRow[], perProcess: boolean): SyscallRow[] {
  const merged = new Map<string, SyscallRow>();
  for (const r of rows) {
    const id = perProcess ? `${r.pid}/${r.uid}/${r.nr}` : String(r.nr);
    const m = merged.get(id);
    if (!m) {
      merged.set(id, { ...r, hist: [...r.hist], errnos: { ...r.errnos } });
      continue;
    }
    m.count += r.count;
    m.total_ns += r.total_ns;
    m.errors += r.errors;
    r.hist.forEach((n, i) => (m.hist[i] = (m.hist[i] ?? 0) + n));
    for (const [e, n] of Object.entries(r.errnos)) m.errnos[e] = (m.errnos[e] ?? 0) + n;
    if (m.ts_ns < r.ts_ns) m.ts_ns = r.ts_ns;
    if (!m.comm) m.comm = r.comm;
    if (!m.cgroup) m.cgroup = r.cgroup;
  }
  return [...merged.values()];
}

function commonestErrno(errnos: Record<string, number>): string {
  let best = '';
  let bestN = 0;
  for (const [e, n] of Object.entries(errnos)) if (n > bestN) [best, bestN] = [e, n];
  return best;
}

function summarize(
  rows: SyscallRow[],
  opts: { perProcess: boolean; top: number; sort: string },
): SummaryTable {
  const merged = mergeSyscallRows(rows, opts.perProcess);
  const key: Record<string, (r: SyscallRow) => number> = {
    calls: (r) => r.count,
    time: (r) => r.total_ns,
    errors: (r) => r.errors,
  };
  const by = key[opts.sort] ?? key.calls!;
  merged.sort((a, b) => by(b) - by(a) || a.syscall.localeCompare(b.syscall));
  const shown = merged.slice(0, opts.top);
  const headers = [
    ...(opts.perProcess ? ['PID', 'COMM', 'USER'] : []),
    'SYSCALL',
    'CALLS',
    'ERRORS',
    'ERRNO',
    'TOTAL',
    'AVG',
    'P50',
    'P99',
  ];
  return {
    headers,
    rows: shown.map((r) => [
      ...(opts.perProcess ? [r.pid, r.comm, r.user] : []),
      r.syscall,
      r.count,
      r.errors,
      r.errors ? commonestErrno(r.errnos) : '',
      formatNs(r.total_ns),
      ...latencyCells(r.total_ns, r.count, r.hist),
    ]),
    omitted: merged.length - shown.length,
  };
}

export const collector: CollectorDefinition<SyscallsParams, SyscallRow> = {
  name: 'syscalls',
  description: manifest.description,
  requires: manifest.requires,

  parseParams: (raw, field) => parseParamsWith(manifest.params, manifest.name, raw, field),

  summarize,

  async start({ params, filters, host, mapEntries }) {
    const obj = BpfObject.fromFile(host.bpfObjectPath('syscalls'), 'syscalls');
    try {
      const sizes: Record<string, number> = {
        ft_sc_stats_a: params.maxEntries,
        ft_sc_stats_b: params.maxEntries,
        ft_sc_errs_a: Math.max(1, Math.ceil(params.maxEntries / 2)),
        ft_sc_errs_b: Math.max(1, Math.ceil(params.maxEntries / 2)),
        ft_sc_cstats_a: params.overflowEntries,
        ft_sc_cstats_b: params.overflowEntries,
        ft_sc_cerrs_a: Math.max(1, Math.ceil(params.overflowEntries / 2)),
        ft_sc_cerrs_b: Math.max(1, Math.ceil(params.overflowEntries / 2)),
        ...mapEntries,
      };
      for (const [map, n] of Object.entries(sizes)) obj.setMaxEntries(map, n);
      obj.setConstant('sc_timed_per_tick', constant.u32(params.maxTimedPerTick));
      if (!params.countWhileDetached) obj.setAutoload('ft_sc_count', false);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      // Asked to, ft_sc_count alone keeps counting every call while duty cycling has the others
      // detached (untimed, per uid, comm, syscall).
      return new SyscallsSession(obj, host, params.countWhileDetached).attachDutyCycled(
        params.countWhileDetached
          ? { program: 'ft_sc_count', flagMap: 'ft_sc_counting' }
          : undefined,
      );
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
