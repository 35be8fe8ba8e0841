// SPDX-License-Identifier: Apache-2.0
/**
 * tracepoint: hits of any kernel tracepoint per user and command
 * (bpf/tracepoint/tracepoint.bpf.c), like `bpftrace -e 'tracepoint:X:Y /f/
 * { @[uid, comm] = count(); }'` without a compiler on the host: one prebuilt
 * program is attached to the tracepoint named at run time, and the filter is
 * data it interprets. The filter is checked against the tracepoint's fields
 * (its tracefs format file) before anything is attached.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject, constant } from '@fleettrace/native';
import { parseParamsWith } from '@fleettrace/collector-spec';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { AggregateSession, keyCacheLayout, mergeRows } from '../runtime/aggregate-session';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readChars, readU32 } from '../runtime/layout';
import {
  bindFilter,
  FilterSyntaxError,
  parseFilter,
  parseFormat,
  type BoundPredicate,
  type Op,
} from './filter';
import { defines, enums, layouts } from './layout.gen';
import { manifest } from './manifest';

export interface TracepointRow {
  ts_ns: bigint;
  uid: number;
  user: string;
  comm: string;
  tracepoint: string;
  filter: string;
  hits: number;
}

type Params = ReturnType<typeof parseParams>;

function parseParams(raw: Record<string, unknown>, field: string) {
  return parseParamsWith(manifest.params, manifest.name, raw, field);
}

/** Where tracefs lists the events: its own mount, or under debugfs on older setups. */
const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** The tracepoint's format file, or an error saying why there is none. */
export function tracepointFormat(name: string): string {
  const [category, event] = name.split(':') as [string, string];
  const roots = TRACEFS.filter((r) => existsSync(join(r, 'events')));
  if (roots.length === 0)
    throw new Error(
      'tracepoint: tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)',
    );
  for (const root of roots) {
    const file = join(root, 'events', category, event, 'format');
    if (existsSync(file)) return readFileSync(file, 'utf8');
  }
  throw new Error(
    `tracepoint: ${name} does not exist on this kernel (no ${join(roots[0]!, 'events', category, event)})`,
  );
}

const OP: Record<Op, number> = {
  '==': enums.tp_op.TP_EQ,
  '!=': enums.tp_op.TP_NE,
  '<': enums.tp_op.TP_LT,
  '<=': enums.tp_op.TP_LE,
  '>': enums.tp_op.TP_GT,
  '>=': enums.tp_op.TP_GE,
};
const KIND = {
  unsigned: enums.tp_kind.TP_UNSIGNED,
  signed: enums.tp_kind.TP_SIGNED,
  chars: enums.tp_kind.TP_CHARS,
  data_loc: enums.tp_kind.TP_DATA_LOC,
  rel_loc: enums.tp_kind.TP_REL_LOC,
};

/** The predicates as the program's tp_preds array. */
function encodePredicates(preds: BoundPredicate[]): Buffer {
  const P = layouts.tp_pred;
  const out = Buffer.alloc(P.size * defines.TP_MAX_PREDS);
  preds.forEach((p, i) => {
    const at = i * P.size;
    out.writeUInt16LE(p.offset, at + P.fields.offset.offset);
    out.writeUInt8(p.size, at + P.fields.size.offset);
    out.writeUInt8(KIND[p.kind], at + P.fields.kind.offset);
    out.writeUInt8(OP[p.op], at + P.fields.op.offset);
    out.writeUInt8(p.endsClause ? 1 : 0, at + P.fields.ends_clause.offset);
    if (typeof p.value === 'string') out.write(p.value, at + P.fields.chars.offset, 'utf8');
    else out.writeBigUInt64LE(BigInt.asUintN(64, p.value), at + P.fields.value.offset);
  });
  return out;
}

const KEY = layouts.tp_key.fields;

class TracepointSession extends AggregateSession<TracepointRow> {
  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
    private readonly params: Params,
  ) {
    super(obj, {
      counts: 'ft_tp_counts',
      ctl: 'ft_tp_ctl',
      lost: 'ft_tp_lost',
      valueSize: 8,
      cache: keyCacheLayout('ft_tp_cache', layouts.tp_cache, layouts.tp_cache_slot),
    });
  }

  protected rowsOf(key: Buffer, slots: Buffer[], ts: bigint): TracepointRow[] {
    let hits = 0;
    for (const slot of slots) hits += Number(slot.readBigUInt64LE(0));
    const uid = readU32(key, KEY.uid);
    if (hits === 0) return [];
    return [
      {
        ts_ns: ts,
        uid,
        user: this.host.users.name(uid),
        comm: readChars(key, KEY.comm),
        tracepoint: this.params.name,
        filter: this.params.filter,
        hits,
      },
    ];
  }
}

function summarize(rows: TracepointRow[], opts: { top: number }): SummaryTable {
  const merged = mergeRows(
    rows,
    (r) => `${r.uid}/${r.comm}`,
    (m, r) => {
      m.hits += r.hits;
    },
  );
  const sorted = merged.sort((a, b) => b.hits - a.hits);
  const shown = sorted.slice(0, opts.top);
  return {
    headers: ['TRACEPOINT', 'COMM', 'USER', 'UID', 'HITS'],
    rows: shown.map((r) => [r.tracepoint, r.comm, r.user, r.uid, r.hits]),
    omitted: sorted.length - shown.length,
  };
}

export const collector: CollectorDefinition<Params, TracepointRow> = {
  name: 'tracepoint',
  description: manifest.description,
  requires: manifest.requires,
  parseParams,
  summarize,

  async start({ params, filters, host, mapEntries }) {
    // Checked before anything is loaded: the tracepoint exists, the filter's fields are its own.
    const fields = parseFormat(tracepointFormat(params.name));
    let preds: BoundPredicate[];
    try {
      preds = bindFilter(parseFilter(params.filter), fields, params.name);
    } catch (err) {
      if (err instanceof FilterSyntaxError)
        throw new Error(`tracepoint: invalid filter ${err.message}`);
      throw err;
    }
    const obj = BpfObject.fromFile(host.bpfObjectPath('tracepoint'), 'tracepoint');
    try {
      obj.setConstant('tp_pred_count', constant.u32(preds.length));
      obj.setConstant('tp_preds', encodePredicates(preds));
      for (const map of ['ft_tp_counts_a', 'ft_tp_counts_b'])
        obj.setMaxEntries(map, mapEntries?.[map] ?? params.max_entries);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      const [category, event] = params.name.split(':') as [string, string];
      obj.attachTracepoint('ft_tp_hit', category, event);
      return new TracepointSession(obj, host, params);
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
