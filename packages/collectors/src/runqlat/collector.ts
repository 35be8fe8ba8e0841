// SPDX-License-Identifier: Apache-2.0
/**
 * runqlat: how long runnable tasks wait for a CPU, per user and cgroup, as a
 * log2 histogram (bpf/runqlat/runqlat.bpf.c). High run-queue latency for one
 * customer while the host is busy is the "noisy neighbour" signature.
 */
import { formatNs } from '@fleettrace/common';
import { BpfObject } from '@fleettrace/native';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { addU32Array, readU32, readU64, readU64Number } from '../runtime/layout';
import { AggregateSession, latencyCells, mergeRows } from '../runtime/aggregate-session';
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

class RunqlatSession extends AggregateSession<RunqlatRow> {
  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
  ) {
    super(obj, {
      counts: 'ft_rq_counts',
      ctl: 'ft_rq_ctl',
      lost: 'ft_rq_lost',
      valueSize: layouts.rq_value.size,
    });
  }

  protected rowsOf(key: Buffer, slots: Buffer[], ts: bigint): RunqlatRow[] {
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
    for (const slot of slots) {
      row.count += readU64Number(slot, VALUE.count);
      row.total_ns += readU64Number(slot, VALUE.total_ns);
      row.max_ns = Math.max(row.max_ns, readU64Number(slot, VALUE.max_ns));
      addU32Array(row.hist, slot, VALUE.hist);
    }
    return row.count > 0 ? [row] : [];
  }
}

/** Sums rows of several intervals per (uid, cgroup). */
export function mergeRunqlatRows(rows: RunqlatRow[]): RunqlatRow[] {
  return mergeRows(
    rows,
    (r) => `${r.uid}/${r.cgroup}`,
    (m, r) => {
      m.count += r.count;
      m.total_ns += r.total_ns;
    },
  );
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
      ...latencyCells(r.total_ns, r.count, r.hist),
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
