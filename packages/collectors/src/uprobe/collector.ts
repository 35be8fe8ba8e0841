// SPDX-License-Identifier: Apache-2.0
/**
 * uprobe: calls and latency of one user-space function per process
 * (bpf/uprobe/uprobe.bpf.c), like `funclatency` of BCC or bpftrace's
 * `uprobe:/bin/x:f { @s[tid] = nsecs } uretprobe:... { @ = hist(...) }`. A
 * uprobe belongs to the file, not to a process: every process that runs the
 * binary (or maps the library), already running or started later, is
 * counted; `pid:symbol` limits it to one process.
 */
import { readlinkSync } from 'node:fs';
import { BpfObject } from '@fleettrace/native';
import { ValidationError } from '@fleettrace/common';
import { parseParamsWith } from '@fleettrace/collector-spec';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { AggregateSession, latencyCells, mergeRows } from '../runtime/aggregate-session';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { addU32Array, readChars, readU32, readU64, readU64Number } from '../runtime/layout';
import { formatNs } from '@fleettrace/common';
import { layouts } from './layout.gen';
import { manifest, UPROBE_TARGET } from './manifest';

export interface UprobeRow {
  ts_ns: bigint;
  pid: number;
  uid: number;
  user: string;
  comm: string;
  cgroup: string;
  target: string;
  calls: number;
  returns: number;
  total_ns: number;
  max_ns: number;
  hist: number[];
}

type Params = ReturnType<typeof parseParams>;

function parseParams(raw: Record<string, unknown>, field: string) {
  return parseParamsWith(manifest.params, manifest.name, raw, field);
}

/** Where to attach: the file and, for pid:symbol, the one process. */
export function resolveTarget(target: string): { binary: string; symbol: string; pid?: number } {
  const [, where, symbol] = UPROBE_TARGET.exec(target)!;
  if (/^\d+$/.test(where!)) {
    const pid = Number(where);
    let binary: string;
    try {
      binary = readlinkSync(`/proc/${pid}/exe`);
    } catch (err) {
      throw new ValidationError(
        'params.target',
        `process ${pid} is not running here (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    // The running image: /proc/PID/exe reaches it even after the file was replaced on disk.
    return {
      binary: binary.endsWith(' (deleted)') ? `/proc/${pid}/exe` : binary,
      symbol: symbol!,
      pid,
    };
  }
  // A name without a slash is looked up by libbpf: PATH for programs, the library paths for .so files.
  return { binary: where!, symbol: symbol! };
}

const KEY = layouts.up_key.fields;
const VALUE = layouts.up_value.fields;

class UprobeSession extends AggregateSession<UprobeRow> {
  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
    private readonly target: string,
  ) {
    super(obj, {
      counts: 'ft_up_counts',
      ctl: 'ft_up_ctl',
      lost: 'ft_up_lost',
      valueSize: layouts.up_value.size,
    });
  }

  protected rowsOf(key: Buffer, slots: Buffer[], ts: bigint): UprobeRow[] {
    const uid = readU32(key, KEY.uid);
    const row: UprobeRow = {
      ts_ns: ts,
      pid: readU32(key, KEY.pid),
      uid,
      user: this.host.users.name(uid),
      comm: readChars(key, KEY.comm),
      cgroup: '',
      target: this.target,
      calls: 0,
      returns: 0,
      total_ns: 0,
      max_ns: 0,
      hist: new Array<number>(VALUE.hist.count).fill(0),
    };
    let cgroup = 0n;
    for (const slot of slots) {
      row.calls += readU64Number(slot, VALUE.calls);
      row.returns += readU64Number(slot, VALUE.returns);
      row.total_ns += readU64Number(slot, VALUE.total_ns);
      row.max_ns = Math.max(row.max_ns, readU64Number(slot, VALUE.max_ns));
      addU32Array(row.hist, slot, VALUE.hist);
      if (cgroup === 0n) cgroup = readU64(slot, VALUE.cgroup);
    }
    row.cgroup = this.host.cgroups.path(cgroup);
    return row.calls > 0 || row.returns > 0 ? [row] : [];
  }
}

function summarize(rows: UprobeRow[], opts: { top: number }): SummaryTable {
  const merged = mergeRows(
    rows,
    (r) => `${r.pid}/${r.uid}/${r.comm}`,
    (m, r) => {
      m.calls += r.calls;
      m.returns += r.returns;
      m.total_ns += r.total_ns;
    },
  );
  const sorted = merged.sort((a, b) => b.calls - a.calls);
  const shown = sorted.slice(0, opts.top);
  return {
    headers: ['TARGET', 'PID', 'COMM', 'USER', 'CALLS', 'AVG', 'P50', 'P99', 'MAX'],
    rows: shown.map((r) => [
      r.target,
      r.pid,
      r.comm,
      r.user,
      r.calls,
      ...latencyCells(r.total_ns, r.returns, r.hist),
      formatNs(r.max_ns),
    ]),
    omitted: sorted.length - shown.length,
  };
}

export const collector: CollectorDefinition<Params, UprobeRow> = {
  name: 'uprobe',
  description: manifest.description,
  requires: manifest.requires,
  parseParams,
  summarize,

  async start({ params, filters, host, mapEntries }) {
    const { binary, symbol, pid } = resolveTarget(params.target);
    const obj = BpfObject.fromFile(host.bpfObjectPath('uprobe'), 'uprobe');
    try {
      for (const map of ['ft_up_counts_a', 'ft_up_counts_b'])
        obj.setMaxEntries(map, mapEntries?.[map] ?? params.max_entries);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      try {
        obj.attachUprobe('ft_up_entry', { binary, symbol, pid });
        obj.attachUprobe('ft_up_return', { binary, symbol, pid, retprobe: true });
      } catch (err) {
        throw new Error(`uprobe: cannot attach to ${params.target}: ${(err as Error).message}`);
      }
      return new UprobeSession(obj, host, params.target);
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
