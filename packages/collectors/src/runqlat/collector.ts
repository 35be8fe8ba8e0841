// SPDX-License-Identifier: Apache-2.0
/**
 * runqlat: how long runnable tasks wait for a CPU, per user and cgroup, as a
 * log2 histogram (bpf/runqlat/runqlat.bpf.c). High run-queue latency for one
 * customer while the host is busy is the "noisy neighbour" signature.
 */
import { formatNs, quantile } from '@fleettrace/common';
import { BpfObject, perCpuSlots } from '@fleettrace/native';
import type {
  CollectorDefinition,
  DrainResult,
  HostContext,
  SummaryTable,
} from '../runtime/definition';
import { DoubleBufferControl } from '../runtime/double-buffer';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { addU32Array, readU32, readU64, readU64Number } from '../runtime/layout';
import { BpfSession } from '../runtime/bpf-session';
import { layouts } from './layout.gen';
import { parseParamsWith } from '@fleettrace/collector-spec';
import { manifest } from './manifest';

export interface RunqlatRow {
  /** end of the interval, UTC Unix ns */
  ts_ns: bigint;
  uid: number;
  user: string;
  cgroup: string;
  /** times a task of this user and cgroup waited to run */
  count: number;
  total_ns: number;
  max_ns: number;
  /** log2 ns slots: slot s counts waits in [2^s, 2^(s+1)) */
  hist: number[];
}

const KEY = layouts.rq_key.fields;
const VALUE = layouts.rq_value.fields;

class RunqlatSession extends BpfSession<RunqlatRow> {
  private readonly control: DoubleBufferControl;
  private lostSeen = 0n;

  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
  ) {
    super(obj);
    this.control = new DoubleBufferControl(obj, 'ft_rq_ctl');
  }

  async drain(): Promise<DrainResult<RunqlatRow>> {
    const old = this.control.flip();
    const dump = this.obj.dump(`ft_rq_counts_${old === 0 ? 'a' : 'b'}`, { delete: true });
    const ts = BigInt(Date.now()) * 1_000_000n;
    const rows: RunqlatRow[] = [];
    for (let i = 0; i < dump.count; i++) {
      const key = dump.keys.subarray(i * dump.keySize, (i + 1) * dump.keySize);
      const uid = readU32(key, KEY.uid);
      const row: RunqlatRow = {
        ts_ns: ts,
        uid,
        user: this.host.users.name(uid),
        cgroup: this.host.cgroups.path(readU64(key, KEY.cgroup)),
        count: 0,
        total_ns: 0,
        max_ns: 0,
        hist: new Array<number>(VALUE.hist.count).fill(0),
      };
      const value = dump.values.subarray(i * dump.valueSize, (i + 1) * dump.valueSize);
      for (const slot of perCpuSlots(value, layouts.rq_value.size)) {
        row.count += readU64Number(slot, VALUE.count);
        row.total_ns += readU64Number(slot, VALUE.total_ns);
        row.max_ns = Math.max(row.max_ns, readU64Number(slot, VALUE.max_ns));
        addU32Array(row.hist, slot, VALUE.hist);
      }
      if (row.count > 0) rows.push(row);
    }
    const lostTotal = this.obj.sumPerCpuCounter('ft_rq_lost');
    const lost = Number(lostTotal - this.lostSeen);
    this.lostSeen = lostTotal;
    return { rows, lost };
  }
}

/** Sums rows of several intervals per (uid, cgroup). */
export function mergeRunqlatRows(rows: RunqlatRow[]): RunqlatRow[] {
  const merged = new Map<string, RunqlatRow>();
  for (const r of rows) {
    const id = `${r.uid}/${r.cgroup}`;
    const m = merged.get(id);
    if (!m) {
      merged.set(id, { ...r, hist: [...r.hist] });
      continue;
    }
    m.count += r.count;
    m.total_ns += r.total_ns;
    m.max_ns = Math.max(m.max_ns, r.max_ns);
    r.hist.forEach((n, i) => (m.hist[i] = (m.hist[i] ?? 0) + n));
  }
  return [...merged.values()];
}

function summarize(rows: RunqlatRow[], opts: { top: number }): SummaryTable {
  const merged = mergeRunqlatRows(rows).sort((a, b) => b.total_ns - a.total_ns);
  const shown = merged.slice(0, opts.top);
  return {
    headers: ['USER', 'UID', 'CGROUP', 'WAITS', 'TOTAL', 'AVG', 'P50', 'P99', 'MAX'],
    rows: shown.map((r) => [
      r.user,
      r.uid,
      r.cgroup || '/',
      r.count,
      formatNs(r.total_ns),
      formatNs(r.count ? r.total_ns / r.count : 0),
      formatNs(quantile(r.hist, 0.5)),
      formatNs(quantile(r.hist, 0.99)),
      formatNs(r.max_ns),
    ]),
    omitted: merged.length - shown.length,
  };
}

export const collector: CollectorDefinition<Record<string, never>, RunqlatRow> = {
  name: 'runqlat',
  description: manifest.description,
  requires: manifest.requires,

  parseParams: (raw, field) => parseParamsWith(manifest.params, manifest.name, raw, field),

  summarize,

  async start({ filters, host, mapEntries }) {
    const obj = BpfObject.fromFile(host.bpfObjectPath('runqlat'), 'runqlat');
    try {
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      return new RunqlatSession(obj, host).attachDutyCycled();
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
