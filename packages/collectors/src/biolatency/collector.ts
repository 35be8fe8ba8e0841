// SPDX-License-Identifier: Apache-2.0
/**
 * biolatency: block I/O latency per disk, operation and issuing user, with
 * bytes (bpf/biolatency/biolatency.bpf.c), like BCC's `biolatency -D -F`
 * with a per-user split. The user is the task that issued the request to the
 * driver: direct and most synchronous I/O carry the submitter's, writeback
 * and requests the block layer issues later carry a kernel worker's (uid 0).
 */
import { readFileSync } from 'node:fs';
import { formatNs } from '@fleettrace/common';
import { BpfObject } from '@fleettrace/native';
import { parseParamsWith } from '@fleettrace/collector-spec';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { AggregateSession, latencyCells, mergeRows } from '../runtime/aggregate-session';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { addU32Array, readU32, readU64Number } from '../runtime/layout';
import { enums, layouts } from './layout.gen';
import { manifest } from './manifest';

export interface BiolatencyRow {
  ts_ns: bigint;
  device: string;
  op: string;
  uid: number;
  user: string;
  count: number;
  bytes: number;
  total_ns: number;
  max_ns: number;
  hist: number[];
}

type Params = ReturnType<typeof parseParams>;

function parseParams(raw: Record<string, unknown>, field: string) {
  return parseParamsWith(manifest.params, manifest.name, raw, field);
}

const OPS: Record<number, string> = {
  [enums.bl_op.BL_READ]: 'read',
  [enums.bl_op.BL_WRITE]: 'write',
  [enums.bl_op.BL_FLUSH]: 'flush',
  [enums.bl_op.BL_DISCARD]: 'discard',
  [enums.bl_op.BL_OTHER]: 'other',
};

/** A disk's name from sysfs (DEVNAME of /sys/dev/block/M:m), else M:m. */
export function deviceName(
  major: number,
  minor: number,
  cache = new Map<string, string>(),
): string {
  const id = `${major}:${minor}`;
  let name = cache.get(id);
  if (name === undefined) {
    try {
      name = /^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${id}/uevent`, 'utf8'))?.[1] ?? id;
    } catch {
      name = id;
    }
    cache.set(id, name);
  }
  return name;
}

const KEY = layouts.bl_key.fields;
const VALUE = layouts.bl_value.fields;

class BiolatencySession extends AggregateSession<BiolatencyRow> {
  private readonly names = new Map<string, string>();

  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
  ) {
    super(obj, {
      counts: 'ft_bl_counts',
      ctl: 'ft_bl_ctl',
      lost: 'ft_bl_lost',
      valueSize: layouts.bl_value.size,
    });
  }

  protected rowsOf(key: Buffer, slots: Buffer[], ts: bigint): BiolatencyRow[] {
    const uid = readU32(key, KEY.uid);
    const row: BiolatencyRow = {
      ts_ns: ts,
      device: deviceName(readU32(key, KEY.major), readU32(key, KEY.minor), this.names),
      op: OPS[readU32(key, KEY.op)] ?? 'other',
      uid,
      user: this.host.users.name(uid),
      count: 0,
      bytes: 0,
      total_ns: 0,
      max_ns: 0,
      hist: new Array<number>(VALUE.hist.count).fill(0),
    };
    for (const slot of slots) {
      row.count += readU64Number(slot, VALUE.count);
      row.bytes += readU64Number(slot, VALUE.bytes);
      row.total_ns += readU64Number(slot, VALUE.total_ns);
      row.max_ns = Math.max(row.max_ns, readU64Number(slot, VALUE.max_ns));
      addU32Array(row.hist, slot, VALUE.hist);
    }
    return row.count > 0 ? [row] : [];
  }
}

function summarize(rows: BiolatencyRow[], opts: { top: number }): SummaryTable {
  const merged = mergeRows(
    rows,
    (r) => `${r.device}/${r.op}/${r.uid}`,
    (m, r) => {
      m.count += r.count;
      m.bytes += r.bytes;
      m.total_ns += r.total_ns;
    },
  );
  const sorted = merged.sort((a, b) => b.total_ns - a.total_ns);
  const shown = sorted.slice(0, opts.top);
  return {
    headers: ['DEVICE', 'OP', 'USER', 'UID', 'REQUESTS', 'BYTES', 'AVG', 'P50', 'P99', 'MAX'],
    rows: shown.map((r) => [
      r.device,
      r.op,
      r.user,
      r.uid,
      r.count,
      r.bytes,
      ...latencyCells(r.total_ns, r.count, r.hist),
      formatNs(r.max_ns),
    ]),
    omitted: sorted.length - shown.length,
  };
}

export const collector: CollectorDefinition<Params, BiolatencyRow> = {
  name: 'biolatency',
  description: manifest.description,
  requires: manifest.requires,
  parseParams,
  summarize,

  async start({ params, filters, host, mapEntries }) {
    const obj = BpfObject.fromFile(host.bpfObjectPath('biolatency'), 'biolatency');
    try {
      obj.setMaxEntries('ft_bl_start', params.max_requests);
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      obj.attachAll();
      return new BiolatencySession(obj, host);
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
