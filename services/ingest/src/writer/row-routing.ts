// SPDX-License-Identifier: Apache-2.0
/**
 * Which tables a collector's rows go to, and the columns derived on the way,
 * all read from the collector's manifest (packages/collectors/src/<name>/
 * manifest.ts; docs/schema.md): the main table fleettrace.<name>, the
 * sensitive table in fleettrace_sensitive (admin only) for the fields only
 * admins may read, and fleettrace.stacks for the frames of collectors with
 * stacks. Rows arrive as the agent's JSON lines (the collector's row types,
 * 64-bit integers as decimal strings).
 *
 * Every field of every row is checked against the manifest: a field no
 * table has a column for (a renamed field, an agent newer than this ingest)
 * is counted as lost (`fleettrace_ingest_unmapped_fields_total`) and logged,
 * never dropped silently; the rest of the row is stored.
 *
 * Rows that need nothing derived and carry no sensitive field (proc's exit
 * and fork, most rows by volume) pass through as text; the rest are parsed,
 * completed, projected onto each table's columns and serialized again.
 * A key is recognised by its exact text (`"name":`): inside a JSON string a
 * quote is always escaped, so a value cannot imitate one.
 */
import {
  acceptedFields,
  allColumns,
  BATCH_COLUMNS,
  PREFIX_COLUMNS,
  STACK_TABLE_COLUMNS,
  tablesOf,
  type CollectorManifest,
  type Row,
} from '@fleettrace/collector-spec';
import { UndecodableBatchError, type UnpackedSegment } from '@fleettrace/bus';
import type { BatchContext, TableBuffer, TsvTableBuffer } from './table-buffer';

/** The buffer of typed rows for a table and column list (made on first use). */
export type TsvTables = (table: string, columns: string[], prefixed: boolean) => TsvTableBuffer;

export interface TableSet {
  /** the buffer of a table that exists, or undefined */
  get(table: string): TableBuffer | undefined;
}

/** Fields of rows that no table of their collector has a column for. */
export type UnmappedFieldSink = (collector: string, field: string, rows: number) => void;

/** Stack ids stored recently: a stack seen in every interval is written once, not every time. */
class RecentStacks {
  private seen = new Set<string>();
  has(id: string): boolean {
    return this.seen.has(id);
  }
  add(id: string): void {
    if (this.seen.size >= 200_000) this.seen = new Set();
    this.seen.add(id);
  }
  /** after a failed flush the stacks it carried were not stored */
  forget(ids: string[]): void {
    for (const id of ids) this.seen.delete(id);
  }
}

function parse(line: string): Row {
  try {
    return JSON.parse(line) as Row;
  } catch (err) {
    throw new UndecodableBatchError(`a row is not JSON: ${(err as Error).message}`);
  }
}

/**
 * The top-level keys of a JSON object as JSON.stringify wrote it (no
 * whitespace), without parsing the values. Keys of nested objects are not
 * top-level and are skipped.
 */
export function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  const n = line.length;
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if (c === 34) {
      const start = i + 1;
      for (i++; i < n; i++) {
        const d = line.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
      if (depth === 1 && line.charCodeAt(i + 1) === 58) keys.push(line.slice(start, i));
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) depth--;
  }
  return keys;
}

/** What the router needs of one manifest, computed once. */
interface Plan {
  manifest: CollectorManifest;
  /** typed encoding: the columns a segment of each of its tables may name */
  segmentColumns: Map<string, Set<string>>;
  main: string;
  mainColumns: Set<string>;
  sensitive?: { table: string; columns: Set<string>; when?: { field: string; equals: string } };
  /** the text a line has when it matches `sensitive.when` */
  whenText?: string;
  accepted: Set<string>;
  /** fields whose presence makes a row need parsing */
  triggers: Set<string>;
  /** every row is parsed */
  parseAll: boolean;
  renames: Array<[string, string]>;
}

function planOf(m: CollectorManifest): Plan {
  const columns = (spec: CollectorManifest['table']) =>
    new Set(
      allColumns(spec)
        .map((c) => c.name)
        .filter((c) => !BATCH_COLUMNS.has(c)),
    );
  const mainColumns = columns(m.table);
  const sensitive = m.sensitive && {
    table: `fleettrace_sensitive.${m.sensitive.table}`,
    columns: columns(m.sensitive),
    when: m.sensitive.when,
  };
  const triggers = new Set<string>(m.consumes ?? []);
  for (const f of m.derivedFrom ?? []) triggers.add(f);
  if (sensitive) for (const c of sensitive.columns) if (!mainColumns.has(c)) triggers.add(c);
  const segmentColumns = new Map<string, Set<string>>();
  const fromBatch = new Set<string>([...PREFIX_COLUMNS, 'row_idx']);
  for (const { table, spec } of tablesOf(m))
    segmentColumns.set(
      table,
      new Set(
        allColumns(spec)
          .map((c) => c.name)
          .filter((c) => !fromBatch.has(c)),
      ),
    );
  if (m.stacks) segmentColumns.set('fleettrace.stacks', new Set(STACK_TABLE_COLUMNS));
  return {
    manifest: m,
    segmentColumns,
    main: `fleettrace.${m.name}`,
    mainColumns,
    sensitive,
    whenText:
      sensitive?.when && `"${sensitive.when.field}":${JSON.stringify(sensitive.when.equals)}`,
    accepted: acceptedFields(m),
    triggers,
    parseAll:
      !!m.stacks ||
      (!!m.derive && (m.derivedFrom ?? []).length === 0) ||
      (!!sensitive && !sensitive.when),
    renames: Object.entries(m.renames ?? {}),
  };
}

function project(r: Row, columns: Set<string>): Row {
  const out: Row = {};
  for (const k in r) if (columns.has(k)) out[k] = r[k];
  return out;
}

export class RowRouter {
  private readonly stacks = new RecentStacks();
  /** stack ids added since the last `flushed()`: forgotten if that flush fails */
  private pendingStacks: string[] = [];
  private readonly plans = new Map<string, Plan>();

  constructor(
    private readonly tables: TableSet,
    manifests: Iterable<CollectorManifest>,
    private readonly unmapped: UnmappedFieldSink = () => undefined,
  ) {
    for (const m of manifests) this.plans.set(m.name, planOf(m));
  }

  /** Routes one batch's rows; throws UndecodableBatchError when the collector has no table. */
  route(collector: string, batch: BatchContext, lines: string[]): number {
    const plan = this.plans.get(collector);
    if (!plan)
      throw new UndecodableBatchError(
        `no collector ${JSON.stringify(collector.slice(0, 64))} in this ingest's manifests`,
      );
    const main = this.table(plan.main, collector);
    const sensitive = plan.sensitive && this.table(plan.sensitive.table, collector);
    const stacks = plan.manifest.stacks ? this.tables.get('fleettrace.stacks') : undefined;
    const mainLines: string[] = [];
    const sensitiveLines: string[] = [];
    const sensitiveIdx: number[] = [];
    const freshStacks: Row[] = [];
    let unmapped: Map<string, number> | undefined;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const keys = topLevelKeys(line);
      let parseIt = plan.parseAll;
      for (const k of keys) {
        if (!plan.accepted.has(k)) {
          unmapped ??= new Map();
          unmapped.set(k, (unmapped.get(k) ?? 0) + 1);
        }
        if (plan.triggers.has(k)) parseIt = true;
      }
      if (!parseIt && plan.whenText && line.includes(plan.whenText)) parseIt = true;
      if (!parseIt) {
        let out = line;
        for (const [from, to] of plan.renames)
          if (out.includes(`"${from}":`)) out = out.replace(`"${from}":`, `"${to}":`);
        mainLines.push(out);
        continue;
      }
      const r = parse(line);
      for (const [from, to] of plan.renames)
        if (from in r) {
          r[to] = r[from];
          delete r[from];
        }
      const m = plan.manifest;
      if (m.derive) {
        const from = m.derivedFrom ?? [];
        if (from.length === 0 || from.some((f) => f in r)) m.derive(r);
      }
      if (
        plan.sensitive &&
        sensitive &&
        (!plan.sensitive.when || r[plan.sensitive.when.field] === plan.sensitive.when.equals)
      ) {
        sensitiveLines.push(JSON.stringify(project(r, plan.sensitive.columns)));
        sensitiveIdx.push(i);
      }
      if (stacks) this.stack(r, freshStacks);
      mainLines.push(JSON.stringify(project(r, plan.mainColumns)));
    }
    main.add(batch, mainLines);
    if (sensitive && sensitiveLines.length) sensitive.add(batch, sensitiveLines, sensitiveIdx);
    stacks?.addRows(batch, freshStacks);
    if (unmapped) for (const [field, n] of unmapped) this.unmapped(collector, field, n);
    return lines.length;
  }

  /**
   * Routes one batch of the typed encoding: each segment's lines go, as
   * bytes, to the buffer of its table and columns. Refuses (the batch goes to
   * the dead-letter sink, kept) a table that is not this collector's, a column
   * its table lacks, or a row count that is not the envelope's.
   */
  routeTables(
    collector: string,
    batch: BatchContext,
    segments: UnpackedSegment[],
    rowCount: number,
    tables: TsvTables,
  ): number {
    const plan = this.plans.get(collector);
    if (!plan)
      throw new UndecodableBatchError(
        `no collector ${JSON.stringify(collector.slice(0, 64))} in this ingest's manifests`,
      );
    let mainRows = 0;
    for (const s of segments) {
      const allowed = plan.segmentColumns.get(s.table);
      if (!allowed)
        throw new UndecodableBatchError(`${s.table} is not a table of collector ${collector}`);
      for (const c of s.columns)
        if (!allowed.has(c))
          throw new UndecodableBatchError(
            `${s.table} has no column ${c} (is this ingest's schema older than the agent?)`,
          );
      if (s.table === plan.main) mainRows += s.lines.length;
    }
    if (mainRows !== rowCount)
      throw new UndecodableBatchError(`${mainRows} rows but row_count is ${rowCount}`);
    for (const s of segments) {
      if (s.table === 'fleettrace.stacks') {
        const fresh = s.lines.filter((l) => {
          const tab = l.indexOf(9);
          const id = l.toString('latin1', 0, tab < 0 ? l.length : tab);
          return this.fresh(id);
        });
        if (this.tables.get('fleettrace.stacks'))
          tables('fleettrace.stacks', s.columns, false).add(batch, fresh);
        continue;
      }
      if (!this.tables.get(s.table))
        throw new UndecodableBatchError(
          `no table ${s.table} for collector ${collector} (is this ingest's schema older than the agent?)`,
        );
      tables(s.table, [...PREFIX_COLUMNS, 'row_idx', ...s.columns], true).add(batch, s.lines);
    }
    return rowCount;
  }

  /** Whether the last flush stored everything routed before it. */
  flushed(ok: boolean): void {
    if (!ok) this.stacks.forget(this.pendingStacks);
    this.pendingStacks = [];
  }

  private table(name: string, collector: string): TableBuffer {
    const buffer = this.tables.get(name);
    if (!buffer)
      throw new UndecodableBatchError(
        `no table ${name} for collector ${collector} (is this ingest's schema older than the agent?)`,
      );
    return buffer;
  }

  /** Whether a stack id is new since a while; if so it is remembered (and forgotten if its flush fails). */
  private fresh(id: string): boolean {
    if (this.stacks.has(id)) return false;
    this.stacks.add(id);
    this.pendingStacks.push(id);
    return true;
  }

  /** A stack seen for the first time since a while goes to fleettrace.stacks. */
  private stack(r: Row, fresh: Row[]): void {
    const id = r.stack_id;
    if (typeof id !== 'string' || id === '' || !this.fresh(id)) return;
    fresh.push({
      stack_id: id,
      time: Math.floor(Date.now() / 1000),
      kernel_frames: r.kernel_frames ?? [],
      user_frames: r.user_frames ?? [],
      user_depth: r.user_depth ?? 0,
      truncated: r.truncated ?? false,
      jit_frames: r.jit_frames ?? 0,
    });
  }
}
