// SPDX-License-Identifier: Apache-2.0
/**
 * Rows in their tables' column order as ClickHouse TabSeparated text, from
 * the manifest: the typed encoding agents send (`tsv-tables+gzip`, see
 * @fleettrace/bus). The agent derives, splits and projects each row here, so
 * ingest passes the bytes on to the store without parsing a row: it only
 * puts the batch's columns (host, job_id, run_id, weight, batch_id) in front
 * of each line. Both stores parse TabSeparated several times faster than
 * JSONEachRow (bench/RESULTS.md, "ingest").
 *
 * A row field the manifest has no place for is counted (`unmapped`), never
 * silently dropped; a column the row lacks gets the type's default.
 */
import {
  acceptedFields,
  allColumns,
  BATCH_COLUMNS,
  type CollectorManifest,
  type Row,
  type TableSpec,
} from './manifest';

/** Columns ingest writes in front of every line of a collector table, in this order. */
export const PREFIX_COLUMNS = ['host', 'job_id', 'run_id', 'weight', 'batch_id'] as const;

/** Columns of fleettrace.stacks the agent fills, in line order. */
export const STACK_TABLE_COLUMNS = [
  'stack_id',
  'time',
  'kernel_frames',
  'user_frames',
  'user_depth',
  'truncated',
  'jit_frames',
];

/** TabSeparated escaping of a string value. */
export function escapeTsv(s: string): string {
  return /[\\\t\n\r\0\b\f]/.test(s)
    ? s.replace(
        /[\\\t\n\r\0\b\f]/g,
        (c) =>
          ({
            '\\': '\\\\',
            '\t': '\\t',
            '\n': '\\n',
            '\r': '\\r',
            '\0': '\\0',
            '\b': '\\b',
            '\f': '\\f',
          })[c]!,
      )
    : s;
}

/** A string inside an array literal: quoted, with quotes and backslashes escaped (TSV-safe). */
function quoted(s: string): string {
  return `'${escapeTsv(s).replace(/'/g, "\\'")}'`;
}

type Encode = (v: unknown) => string;

function integer(v: unknown): string {
  if (v === undefined || v === null || v === false) return '0';
  if (v === true) return '1';
  return String(v);
}

/** The encoder of one column type (codecs and LowCardinality do not change the text). */
export function encoderOf(type: string): Encode {
  const t = type
    .replace(/\s+CODEC\(.*\)\s*$/, '')
    .replace(/^LowCardinality\((.*)\)$/, '$1')
    .trim();
  const nullable = /^Nullable\((.*)\)$/.exec(t);
  if (nullable) {
    const inner = encoderOf(nullable[1]!);
    return (v) => (v === null || v === undefined ? '\\N' : inner(v));
  }
  const array = /^Array\((.*)\)$/.exec(t);
  if (array) {
    const inner = array[1]!.replace(/^LowCardinality\((.*)\)$/, '$1');
    if (inner === 'String')
      return (v) => (Array.isArray(v) ? `[${v.map((x) => quoted(String(x))).join(',')}]` : '[]');
    return (v) => (Array.isArray(v) ? `[${v.map(integer).join(',')}]` : '[]');
  }
  if (t === 'String') return (v) => (v === undefined || v === null ? '' : escapeTsv(String(v)));
  if (/^(U?Int\d+|Float\d+|DateTime.*)$/.test(t)) return integer;
  throw new Error(`no TabSeparated encoder for the column type ${type}`);
}

/** Rows of one table of one batch, each line `row_idx<TAB>columns...`. */
export interface TableSegment {
  table: string;
  /** the columns after row_idx, in line order (for stacks: no row_idx, see STACK_TABLE_COLUMNS) */
  columns: string[];
  lines: string[];
}

interface TablePlan {
  table: string;
  columns: string[];
  encoders: Encode[];
}

function planTable(table: string, spec: TableSpec): TablePlan {
  const columns = allColumns(spec).filter((c) => !BATCH_COLUMNS.has(c.name) || c.name === 'time');
  return {
    table,
    columns: columns.map((c) => c.name),
    encoders: columns.map((c) => encoderOf(c.type)),
  };
}

/** `row_idx<TAB>values...`; the `time` column is the row's ts_ns in seconds. */
function line(plan: TablePlan, idx: number, r: Row, time: number): string {
  let out = String(idx);
  const { columns, encoders } = plan;
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i]!;
    out += '\t' + (c === 'time' ? String(time) : encoders[i]!(r[c]));
  }
  return out;
}

/** Seconds of a ts_ns given as bigint, number or decimal string. */
function secondsOf(ts: unknown): number {
  if (typeof ts === 'bigint') return Number(ts / 1_000_000_000n);
  const s = String(ts ?? '0');
  return s.length > 9 ? Number(s.slice(0, -9)) : 0;
}

export interface TableEncoder {
  /**
   * Encodes rows whose indexes in their batch start at `firstIdx`, adding
   * their lines to `into` (one segment per table). Returns the bytes added
   * and the fields without a place, with how many rows carried each.
   */
  encode(
    rows: readonly Row[],
    firstIdx: number,
    into: Map<string, TableSegment>,
  ): { bytes: number; unmapped?: Map<string, number> };
}

const STACK_ENCODERS = [
  encoderOf('String'),
  encoderOf('UInt32'),
  encoderOf('Array(String)'),
  encoderOf('Array(String)'),
  encoderOf('UInt32'),
  encoderOf('UInt8'),
  encoderOf('UInt32'),
];

export function tableEncoder(m: CollectorManifest): TableEncoder {
  const main = planTable(`fleettrace.${m.name}`, m.table);
  const sensitive =
    m.sensitive && planTable(`fleettrace_sensitive.${m.sensitive.table}`, m.sensitive);
  const when = m.sensitive?.when;
  const accepted = acceptedFields(m);
  const renames = Object.entries(m.renames ?? {});
  const derivedFrom = m.derivedFrom ?? [];
  const segment = (into: Map<string, TableSegment>, p: { table: string; columns: string[] }) => {
    let s = into.get(p.table);
    if (!s) into.set(p.table, (s = { table: p.table, columns: p.columns, lines: [] }));
    return s;
  };
  return {
    encode(rows, firstIdx, into) {
      let unmapped: Map<string, number> | undefined;
      let bytes = 0;
      const push = (seg: TableSegment, text: string) => {
        seg.lines.push(text);
        bytes += text.length + 1;
      };
      const mainSeg = segment(into, main);
      const stacks = m.stacks
        ? segment(into, { table: 'fleettrace.stacks', columns: STACK_TABLE_COLUMNS })
        : undefined;
      const seenStacks = new Set<string>();
      for (let i = 0; i < rows.length; i++) {
        const original = rows[i]!;
        for (const k in original)
          if (!accepted.has(k)) {
            unmapped ??= new Map();
            unmapped.set(k, (unmapped.get(k) ?? 0) + 1);
          }
        // The caller's row stays as it was: renames and derived columns go to a copy.
        let r: Row = original;
        const rename = renames.some(([from]) => from in r);
        const derive = !!m.derive && (derivedFrom.length === 0 || derivedFrom.some((f) => f in r));
        if (rename || derive) r = { ...original };
        if (rename)
          for (const [from, to] of renames)
            if (from in r) {
              r[to] = r[from];
              delete r[from];
            }
        if (derive) m.derive!(r);
        const time = secondsOf(r.ts_ns);
        const idx = firstIdx + i;
        push(mainSeg, line(main, idx, r, time));
        if (sensitive && (!when || r[when.field] === when.equals))
          push(segment(into, sensitive), line(sensitive, idx, r, time));
        if (stacks) {
          const id = r.stack_id;
          if (typeof id === 'string' && id !== '' && !seenStacks.has(id)) {
            seenStacks.add(id);
            const values = [
              id,
              time,
              r.kernel_frames,
              r.user_frames,
              r.user_depth,
              r.truncated,
              r.jit_frames,
            ];
            push(stacks, values.map((v, k) => STACK_ENCODERS[k]!(v)).join('\t'));
          }
        }
      }
      return { bytes, unmapped };
    },
  };
}
