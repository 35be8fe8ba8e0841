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
  // Most values need nothing: one scan of char codes, no regular expression.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 || c < 14) return s.replace(NEEDS_ESCAPE, (ch) => ESCAPE[ch]!);
  }
  return s;
}

const NEEDS_ESCAPE = /[\\\t\n\r\0\b\f]/g;
const ESCAPE: Record<string, string> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
};

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
  /** `row_idx<TAB>values...` of a row; the `time` column is `time` (ts_ns in seconds) */
  line: (idx: number, r: Row, time: string) => string;
}

function text(v: unknown): string {
  if (typeof v === 'string') return escapeTsv(v);
  return v === undefined || v === null ? '' : escapeTsv(String(v));
}

/**
 * The line function of a table, compiled once: one expression per column
 * reading the row's property by its name (column names are identifiers,
 * checked by defineCollector), which V8 turns into direct loads; a loop over
 * `r[column]` was six times slower than JSON.stringify of the same rows.
 */
function planTable(table: string, spec: TableSpec): TablePlan {
  const columns = allColumns(spec).filter((c) => !BATCH_COLUMNS.has(c.name) || c.name === 'time');
  const encoders: Encode[] = [];
  const parts = columns.map((c, i) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(c.name)) throw new Error(`bad column name ${c.name}`);
    if (c.name === 'time') return 't';
    const bare = c.type
      .replace(/\s+CODEC\(.*\)\s*$/, '')
      .replace(/^LowCardinality\((.*)\)$/, '$1')
      .trim();
    if (/^(U?Int\d+|Float\d+|DateTime.*)$/.test(bare)) return `I(r.${c.name})`;
    if (bare === 'String') return `S(r.${c.name})`;
    encoders[i] = encoderOf(c.type);
    return `E[${i}](r.${c.name})`;
  });
  const body = `return function line(idx, r, t) { return [idx, ${parts.join(', ')}].join('\\t'); };`;
  // Code from the column names checked above, nothing else.
  const make = new Function('E', 'I', 'S', body) as (
    e: Encode[],
    i: Encode,
    s: Encode,
  ) => TablePlan['line'];
  return { table, columns: columns.map((c) => c.name), line: make(encoders, integer, text) };
}

/** Seconds of a ts_ns given as bigint, number or decimal string. */
function secondsOf(ts: unknown): string {
  const s = typeof ts === 'string' ? ts : String(ts ?? '0');
  return s.length > 9 ? s.slice(0, -9) : '0';
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

/** Rows whose every field is checked before the check samples one in 16. */
const FULL_CHECK_ROWS = 10_000;

/** Stacks already in a batch's segments (one row per stack id and batch). */
const stacksSeen = new WeakMap<Map<string, TableSegment>, Set<string>>();

export function tableEncoder(m: CollectorManifest): TableEncoder {
  const main = planTable(`fleettrace.${m.name}`, m.table);
  const sensitive =
    m.sensitive && planTable(`fleettrace_sensitive.${m.sensitive.table}`, m.sensitive);
  const when = m.sensitive?.when;
  const accepted = acceptedFields(m);
  const renames = Object.entries(m.renames ?? {});
  const derivedFrom = m.derivedFrom ?? [];
  let checked = 0;
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
      for (let i = 0; i < rows.length; i++) {
        const original = rows[i]!;
        // Every row's fields while the collector is new to this encoder, then
        // one row in 16: an agent's rows change only with its code, and a
        // field its manifest lacks is then in every row of that kind.
        if (checked < FULL_CHECK_ROWS || (checked & 15) === 0)
          for (const k of Object.keys(original))
            if (!accepted.has(k)) {
              unmapped ??= new Map();
              unmapped.set(k, (unmapped.get(k) ?? 0) + 1);
            }
        checked++;
        // The caller's row stays as it was: renames and derived columns go to a copy.
        let r: Row = original;
        const rename = renames.some(([from]) => from in r);
        const derive = !!m.derive && (derivedFrom.length === 0 || derivedFrom.some((f) => f in r));
        if (rename || derive) r = Object.assign({}, original);
        if (rename)
          for (const [from, to] of renames)
            if (from in r) {
              r[to] = r[from];
              delete r[from];
            }
        if (derive) m.derive!(r);
        const time = secondsOf(r.ts_ns);
        const idx = firstIdx + i;
        push(mainSeg, main.line(idx, r, time));
        if (sensitive && (!when || r[when.field] === when.equals))
          push(segment(into, sensitive), sensitive.line(idx, r, time));
        if (stacks) {
          const id = r.stack_id;
          let seen = stacksSeen.get(into);
          if (!seen) stacksSeen.set(into, (seen = new Set()));
          if (typeof id === 'string' && id !== '' && !seen.has(id)) {
            seen.add(id);
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
