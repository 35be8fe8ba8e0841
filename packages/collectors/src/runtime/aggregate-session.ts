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
import { perCpuSlots, type BpfObject } from '@fleettrace/native';
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
    const dump = this.obj.dump(`${this.maps.counts}_${old === 0 ? 'a' : 'b'}`, { delete: true });
    const ts = BigInt(Date.now()) * 1_000_000n;
    const rows: Row[] = [];
    for (let i = 0; i < dump.count; i++) {
      const key = dump.keys.subarray(i * dump.keySize, (i + 1) * dump.keySize);
      const value = dump.values.subarray(i * dump.valueSize, (i + 1) * dump.valueSize);
      rows.push(...this.rowsOf(key, perCpuSlots(value, this.maps.valueSize), ts));
    }
    const lostTotal = this.obj.sumPerCpuCounter(this.maps.lost);
    const lost = Number(lostTotal - this.lostSeen);
    this.lostSeen = lostTotal;
    return { rows, lost };
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
