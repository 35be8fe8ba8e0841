// SPDX-License-Identifier: Apache-2.0
/**
 * The session of a collector that aggregates in double-buffered per-CPU hash
 * maps (`<counts>_a`, `<counts>_b` and the `<ctl>` control of FT_DB_CTL, a
 * per-CPU `<lost>` counter): each drain flips the buffers, reads and empties
 * the idle one, and turns every key with its per-CPU values into rows.
 * Collectors give the maps' names and `rowsOf`; the flip, the dump and the
 * loss bookkeeping are here once.
 */
import { formatNs, quantile } from '@fleettrace/common';
import { constant, perCpuSlots, type BpfObject } from '@fleettrace/native';
import { BpfSession } from './bpf-session';
import type { DrainResult } from './definition';
import { DoubleBufferControl } from './double-buffer';

export interface AggregateMaps {
  /** the counts maps without their _a/_b suffix */
  counts: string;
  ctl: string;
  lost: string;
  /** the kernel's size of one per-CPU value */
  valueSize: number;
  /**
   * A per-CPU array with each buffer's small cache of recent keys (index: the
   * buffer), whose slots hold a key, its value (the counts map's layout) and a
   * nonzero `used`: a drain reads the idle buffer's caches with its counts map
   * and empties them.
   */
  cache?: KeyCacheLayout;
}

export interface KeyCacheLayout {
  map: string;
  /** the kernel's size of one CPU's cache */
  size: number;
  slots: { offset: number; count: number; size: number };
  key: { offset: number; size: number };
  value: { offset: number };
  used: { offset: number };
}

/**
 * The KeyCacheLayout of `map` from the generated layouts of its C structs:
 * `cache` with `slot[N]` and `slot` with `key`, `value` and `used`.
 */
export function keyCacheLayout(
  map: string,
  cache: { size: number; fields: { slot: { offset: number; count: number } } },
  slot: {
    size: number;
    fields: {
      key: { offset: number; size: number };
      value: { offset: number };
      used: { offset: number };
    };
  },
): KeyCacheLayout {
  return {
    map,
    size: cache.size,
    slots: { offset: cache.fields.slot.offset, count: cache.fields.slot.count, size: slot.size },
    key: slot.fields.key,
    value: slot.fields.value,
    used: slot.fields.used,
  };
}

export abstract class AggregateSession<Row> extends BpfSession<Row> {
  private readonly control: DoubleBufferControl;
  private lostSeen = 0n;

  constructor(
    obj: BpfObject,
    private readonly maps: AggregateMaps,
  ) {
    super(obj);
    this.control = new DoubleBufferControl(obj, maps.ctl);
  }

  /** The rows of one key: `slots` are its per-CPU values; `ts` the drain's time (UTC ns). */
  protected abstract rowsOf(key: Buffer, slots: Buffer[], ts: bigint): Row[];

  async drain(): Promise<DrainResult<Row>> {
    const old = this.control.flip();
    // After the flip no program writes the idle buffer: its caches, then its counts map.
    const cached = this.takeCache(old);
    const dump = this.obj.dump(`${this.maps.counts}_${old === 0 ? 'a' : 'b'}`, { delete: true });
    const ts = BigInt(Date.now()) * 1_000_000n;
    const rows: Row[] = [];
    for (let i = 0; i < dump.count; i++) {
      const key = dump.keys.subarray(i * dump.keySize, (i + 1) * dump.keySize);
      const value = dump.values.subarray(i * dump.valueSize, (i + 1) * dump.valueSize);
      const slots = perCpuSlots(value, this.maps.valueSize);
      const id = key.toString('hex');
      const inCache = cached.get(id);
      if (inCache) {
        slots.push(...inCache.slots);
        cached.delete(id);
      }
      rows.push(...this.rowsOf(key, slots, ts));
    }
    for (const { key, slots } of cached.values()) rows.push(...this.rowsOf(key, slots, ts));
    const lostTotal = this.obj.sumPerCpuCounter(this.maps.lost);
    const lost = Number(lostTotal - this.lostSeen);
    this.lostSeen = lostTotal;
    return { rows, lost };
  }

  /** The keys in every CPU's cache of buffer `buffer`, with their values as extra slots; empties it. */
  private takeCache(buffer: number): Map<string, { key: Buffer; slots: Buffer[] }> {
    const out = new Map<string, { key: Buffer; slots: Buffer[] }>();
    const layout = this.maps.cache;
    if (!layout) return out;
    const index = constant.u32(buffer);
    const all = this.obj.lookup(layout.map, index);
    if (!all) return out;
    for (const cpu of perCpuSlots(all, layout.size)) {
      for (let i = 0; i < layout.slots.count; i++) {
        const slot = cpu.subarray(
          layout.slots.offset + i * layout.slots.size,
          layout.slots.offset + (i + 1) * layout.slots.size,
        );
        if (slot.readBigUInt64LE(layout.used.offset) === 0n) continue;
        const key = Buffer.from(
          slot.subarray(layout.key.offset, layout.key.offset + layout.key.size),
        );
        const value = Buffer.from(
          slot.subarray(layout.value.offset, layout.value.offset + this.maps.valueSize),
        );
        const id = key.toString('hex');
        const entry = out.get(id);
        if (entry) entry.slots.push(value);
        else out.set(id, { key, slots: [value] });
      }
    }
    this.obj.update(layout.map, index, Buffer.alloc(all.length));
    return out;
  }
}

/**
 * Rows of several drains summed per `idOf`: `add` sums the counts, and a
 * `max_ns` and log2 `hist` (latency rows) are kept as the max and the sum.
 */
export function mergeRows<R extends object>(
  rows: R[],
  idOf: (r: R) => string,
  add: (into: R, r: R) => void,
): R[] {
  type Latency = { max_ns?: number; hist?: number[] };
  const merged = new Map<string, R>();
  for (const r of rows) {
    const id = idOf(r);
    const m = merged.get(id);
    const lr = r as Latency;
    if (!m) {
      merged.set(id, { ...r, ...(lr.hist ? { hist: [...lr.hist] } : {}) });
      continue;
    }
    add(m, r);
    const lm = m as Latency;
    if (lm.max_ns !== undefined && lr.max_ns !== undefined)
      lm.max_ns = Math.max(lm.max_ns, lr.max_ns);
    if (lm.hist && lr.hist) lr.hist.forEach((n, i) => (lm.hist![i] = (lm.hist![i] ?? 0) + n));
  }
  return [...merged.values()];
}

/** AVG (total over `n` calls), P50 and P99 (from the log2 histogram) as `trace` prints them. */
export function latencyCells(totalNs: number, n: number, hist: number[]): string[] {
  return [
    formatNs(n ? totalNs / n : 0),
    formatNs(quantile(hist, 0.5)),
    formatNs(quantile(hist, 0.99)),
  ];
}
