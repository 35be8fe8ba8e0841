// SPDX-License-Identifier: Apache-2.0
/**
 * Rows waiting for one insert into one table, as JSONEachRow lines. Rows are
 * added a whole batch at a time, so a flush cuts blocks on batch boundaries,
 * the ids of the batches in a block make its insert deduplication token, and
 * a block the store refuses can be split back into its batches.
 *
 * Most rows are the agent's JSON lines passed on as text: the columns every
 * row of a batch shares (host, job_id, run_id, weight, batch_id), its row_idx
 * and its `time` (the seconds of its ts_ns) are spliced in front, and the
 * table skips the fields it has no column for. Parsing and re-serializing
 * every row cost ingest ten times more; rows that need derived columns are
 * parsed by the router before they get here.
 */
import { createHash } from 'node:crypto';
import type { ConsumedMessage } from '@fleettrace/bus';
import { escapeTsv } from '@fleettrace/collector-spec';

/** Values every row of one batch shares, from its envelope. */
export interface BatchContext {
  host: string;
  jobId: string;
  runId: string;
  weight: number;
  /** decimal */
  batchId: string;
  /** the message the batch came in, for the dead-letter sink if the store refuses its rows */
  source?: ConsumedMessage;
}

export interface BlockSlice {
  batch: BatchContext;
  payload: Buffer;
  rows: number;
}

export interface Block {
  table: string;
  /** JSONEachRow unless said; TabSeparated blocks name their columns */
  format?: 'JSONEachRow' | 'TabSeparated';
  columns?: string[];
  payload: Buffer;
  rows: number;
  dedupToken: string;
  /** the block cut back into its batches, one insert each (to isolate a batch the store refuses) */
  slices(): BlockSlice[];
}

/** The seconds of the line's "ts_ns" (a decimal string or number of UTC ns), as text; "0" without one. */
export function secondsOfLine(line: string): string {
  const k = line.indexOf('"ts_ns":');
  if (k < 0) return '0';
  let start = k + 8;
  if (line.charCodeAt(start) === 34) start++;
  let end = start;
  for (; end < line.length; end++) {
    const c = line.charCodeAt(end);
    if (c < 48 || c > 57) break;
  }
  return end - start > 9 ? line.slice(start, end - 9) : '0';
}

export class TableBuffer {
  private lines: string[] = [];
  private batches: Array<{ batch: BatchContext; start: number }> = [];

  constructor(readonly table: string) {}

  get rowCount(): number {
    return this.lines.length;
  }

  /**
   * Adds rows of one batch: JSON objects without the batch's columns, which
   * are spliced in. `indexes[k]` is line k's index in its batch (row_idx); by
   * default the lines are the whole batch in order.
   */
  add(batch: BatchContext, lines: string[], indexes?: number[]): void {
    if (lines.length === 0) return;
    this.batches.push({ batch, start: this.lines.length });
    const prefix =
      `{"host":${JSON.stringify(batch.host)},"job_id":${JSON.stringify(batch.jobId)},` +
      `"run_id":${JSON.stringify(batch.runId)},"weight":${Number.isFinite(batch.weight) ? batch.weight : 1},` +
      `"batch_id":"${batch.batchId}","row_idx":`;
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k]!;
      const rest = line.length > 2 ? ',' + line.slice(1) : '}';
      this.lines.push(
        prefix + (indexes ? indexes[k]! : k) + ',"time":' + secondsOfLine(line) + rest,
      );
    }
  }

  /** Adds complete rows (objects with every column they fill), e.g. stacks and controller state. */
  addRows(batch: BatchContext, rows: object[]): void {
    if (rows.length === 0) return;
    this.batches.push({ batch, start: this.lines.length });
    for (const r of rows) this.lines.push(JSON.stringify(r));
  }

  /** Takes the buffered rows as one insert block and empties the buffer. */
  take(): Block | undefined {
    if (this.lines.length === 0) return undefined;
    const lines = this.lines;
    const batches = this.batches;
    this.lines = [];
    this.batches = [];
    const table = this.table;
    return {
      table,
      payload: Buffer.from(lines.join('\n') + '\n', 'utf8'),
      rows: lines.length,
      dedupToken: createHash('sha256')
        .update(table)
        .update(batches.map((b) => b.batch.batchId).join(','))
        .digest('hex'),
      slices: () =>
        batches.map((b, i) => {
          const part = lines.slice(b.start, batches[i + 1]?.start ?? lines.length);
          return {
            batch: b.batch,
            payload: Buffer.from(part.join('\n') + '\n', 'utf8'),
            rows: part.length,
          };
        }),
    };
  }
}

/**
 * Rows of the typed encoding waiting for one insert into one table with one
 * column list: the agent's TabSeparated lines (row_idx first), each with the
 * batch's columns put in front (PREFIX_COLUMNS), as bytes. Nothing is parsed.
 */
export class TsvTableBuffer {
  private chunks: Buffer[] = [];
  private rows = 0;
  private batches: Array<{ batch: BatchContext; start: number; rows: number }> = [];

  /**
   * @param columns the insert's columns: the prefix's (when `prefixed`), then the lines'
   * @param prefixed whether lines get the batch's columns in front (not for fleettrace.stacks)
   */
  constructor(
    readonly table: string,
    readonly columns: string[],
    private readonly prefixed: boolean,
  ) {}

  get rowCount(): number {
    return this.rows;
  }

  add(batch: BatchContext, lines: Buffer[]): void {
    if (lines.length === 0) return;
    this.batches.push({ batch, start: this.chunks.length, rows: lines.length });
    const prefix = this.prefixed
      ? Buffer.from(
          `${escapeTsv(batch.host)}\t${escapeTsv(batch.jobId)}\t${escapeTsv(batch.runId)}\t` +
            `${Number.isFinite(batch.weight) ? batch.weight : 1}\t${batch.batchId}\t`,
        )
      : undefined;
    const newline = NEWLINE;
    for (const line of lines) {
      if (prefix) this.chunks.push(prefix);
      this.chunks.push(line, newline);
    }
    this.rows += lines.length;
  }

  take(): Block | undefined {
    if (this.rows === 0) return undefined;
    const chunks = this.chunks;
    const batches = this.batches;
    const rows = this.rows;
    this.chunks = [];
    this.batches = [];
    this.rows = 0;
    const table = this.table;
    return {
      table,
      format: 'TabSeparated',
      columns: this.columns,
      payload: Buffer.concat(chunks),
      rows,
      dedupToken: createHash('sha256')
        .update(table)
        .update(this.columns.join(','))
        .update(batches.map((b) => b.batch.batchId).join(','))
        .digest('hex'),
      slices: () =>
        batches.map((b, i) => ({
          batch: b.batch,
          payload: Buffer.concat(chunks.slice(b.start, batches[i + 1]?.start ?? chunks.length)),
          rows: b.rows,
        })),
    };
  }
}

const NEWLINE = Buffer.from('\n');
