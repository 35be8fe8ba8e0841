// SPDX-License-Identifier: Apache-2.0
/**
 * The rows inside an EventBatch envelope (proto/fleettrace/v1/events.proto):
 * how agents pack them and ingest unpacks them, and the batch id both derive
 * from (agent id, sequence). One module, so the two sides cannot drift.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * gzip of UTF-8 lines, one JSON object per row (the collector's row type),
 * 64-bit integers (bigint) as decimal strings. Chosen over a binary encoding
 * because rows of different collectors share it with no schema exchange and
 * ClickHouse-bound ingest turns them into columns by name; gzip level 1 keeps
 * the agent's CPU small and still shrinks repetitive rows 5-10 times.
 */
export const ROWS_ENCODING = 'json-lines+gzip';

/**
 * A row as one JSON line (no newline); bigint values become decimal strings.
 * Rows are flat objects whose bigints sit at the top level or in arrays
 * (ts_ns, syscall arguments, stack addresses): those fields are swapped for
 * their plain form while JSON.stringify runs and put back before returning
 * (the caller's row is unchanged; nothing else runs in between). A replacer
 * function costs about ten times more per row, a shallow copy about twice,
 * and this runs on every row the agent sends.
 */
export function rowLine(row: unknown): string {
  if (row === null || typeof row !== 'object' || Array.isArray(row))
    return JSON.stringify(plain(row));
  const o = row as Record<string, unknown>;
  let saved: unknown[] | undefined;
  for (const k in o) {
    const v = o[k];
    if (
      typeof v === 'bigint' ||
      (Array.isArray(v) && v.length > 0 && typeof v[0] === 'bigint') ||
      (v !== null && typeof v === 'object' && !Array.isArray(v))
    ) {
      (saved ??= []).push(k, v);
      o[k] = plain(v);
    }
  }
  try {
    return JSON.stringify(o);
  } finally {
    if (saved) for (let i = 0; i < saved.length; i += 2) o[saved[i] as string] = saved[i + 1];
  }
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

/**
 * The most a batch's rows may unpack to. An agent cuts batches at 1 MiB of
 * rows (EventPublisher maxBatchBytes), so 64 MiB is far above anything it
 * sends; a post of gzip that expands past it (a "bomb": 1 MB of zeros is
 * 1 GB unpacked) stops there and is refused, instead of taking the memory.
 */
export const MAX_UNPACKED_BYTES = 64 << 20;

async function gunzipBounded(bytes: Uint8Array, maxBytes: number): Promise<string> {
  try {
    return (await gunzipAsync(bytes, { maxOutputLength: maxBytes })).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new UndecodableBatchError(`rows unpack to more than ${maxBytes} bytes`);
    throw new UndecodableBatchError(`rows are not gzip: ${(err as Error).message}`);
  }
}

/** Packs JSON lines into `rows` bytes; compression runs on the libuv pool, off the event loop. */
export async function packRows(lines: string[]): Promise<Buffer> {
  return gzipAsync(Buffer.from(lines.join('\n'), 'utf8'), { level: 1 });
}

/** Why a batch cannot be unpacked: goes with the batch to the dead-letter topic. */
export class UndecodableBatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndecodableBatchError';
  }
}

/**
 * Unpacks `rows` bytes into its JSON lines, unparsed (ingest passes most of
 * them on as they are). Checks the count, not the JSON: the store refuses a
 * line that is not, and ingest then sets that batch aside. Refuses rows that
 * unpack to more than `maxBytes`.
 */
export async function unpackLines(
  encoding: string,
  bytes: Uint8Array,
  expectedRows: number,
  maxBytes = MAX_UNPACKED_BYTES,
): Promise<string[]> {
  if (encoding !== ROWS_ENCODING)
    throw new UndecodableBatchError(`unknown rows encoding ${JSON.stringify(encoding)}`);
  const text = await gunzipBounded(bytes, maxBytes);
  const lines = text.length === 0 ? [] : text.split('\n');
  if (lines.length !== expectedRows)
    throw new UndecodableBatchError(`${lines.length} rows but row_count is ${expectedRows}`);
  for (const l of lines)
    if (l.charCodeAt(0) !== 0x7b || l.charCodeAt(l.length - 1) !== 0x7d)
      throw new UndecodableBatchError('a row is not a JSON object');
  return lines;
}

/**
 * The typed encoding (collector-spec's tsv.ts): gzip of segments, one per
 * table, each a header line `\x01<table>\t<column>...` and then one
 * TabSeparated line per row, `row_idx\t<values>` in the header's column
 * order (fleettrace.stacks lines have no row_idx). Ingest puts the batch's
 * own columns in front of each line and passes the bytes on to the store.
 */
export const TABLES_ENCODING = 'tsv-tables+gzip';

export interface PackedSegment {
  table: string;
  columns: string[];
  lines: string[];
}

export async function packTables(segments: Iterable<PackedSegment>): Promise<Buffer> {
  const parts: string[] = [];
  for (const s of segments) {
    if (s.lines.length === 0) continue;
    parts.push(`\x01${s.table}\t${s.columns.join('\t')}`, ...s.lines);
  }
  return gzipAsync(Buffer.from(parts.join('\n'), 'utf8'), { level: 1 });
}

/** One table's rows of a batch: the lines are views of the unpacked bytes, without the newline. */
export interface UnpackedSegment {
  table: string;
  columns: string[];
  lines: Buffer[];
}

const NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/** Unpacks a TABLES_ENCODING batch into its segments, refusing more than `maxBytes` unpacked. */
export async function unpackTables(
  bytes: Uint8Array,
  maxBytes = MAX_UNPACKED_BYTES,
): Promise<UnpackedSegment[]> {
  let text: Buffer;
  try {
    text = await gunzipAsync(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new UndecodableBatchError(`rows unpack to more than ${maxBytes} bytes`);
    throw new UndecodableBatchError(`rows are not gzip: ${(err as Error).message}`);
  }
  const out: UnpackedSegment[] = [];
  let current: UnpackedSegment | undefined;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf(10, start);
    if (end < 0) end = text.length;
    if (text[start] === 1) {
      const [table, ...columns] = text.toString('utf8', start + 1, end).split('\t');
      if (!NAME.test(table!) || columns.length === 0 || !columns.every((c) => NAME.test(c)))
        throw new UndecodableBatchError('a segment header is not `table<TAB>columns`');
      current = { table: table!, columns, lines: [] };
      out.push(current);
    } else if (!current) throw new UndecodableBatchError('rows before the first segment header');
    else current.lines.push(text.subarray(start, end));
    start = end + 1;
  }
  return out;
}

/** Unpacks `rows` bytes into plain objects (64-bit values stay decimal strings). */
export async function unpackRows(
  encoding: string,
  bytes: Uint8Array,
  expectedRows: number,
  maxBytes = MAX_UNPACKED_BYTES,
): Promise<Record<string, unknown>[]> {
  if (encoding !== ROWS_ENCODING)
    throw new UndecodableBatchError(`unknown rows encoding ${JSON.stringify(encoding)}`);
  const text = await gunzipBounded(bytes, maxBytes);
  if (text.length === 0) {
    if (expectedRows !== 0)
      throw new UndecodableBatchError(`no rows but row_count is ${expectedRows}`);
    return [];
  }
  let rows: unknown;
  try {
    // One parse of the whole batch is several times faster than one per line.
    rows = JSON.parse(`[${text.replaceAll('\n', ',')}]`);
  } catch (err) {
    throw new UndecodableBatchError(`rows are not JSON lines: ${(err as Error).message}`);
  }
  const list = rows as unknown[];
  if (list.length !== expectedRows)
    throw new UndecodableBatchError(`${list.length} rows but row_count is ${expectedRows}`);
  for (const r of list)
    if (r === null || typeof r !== 'object' || Array.isArray(r))
      throw new UndecodableBatchError('a row is not a JSON object');
  return list as Record<string, unknown>[];
}

/**
 * The batch id every stored row carries: the first 8 bytes (big-endian) of
 * SHA-256("<agent id>/<sequence>"). Deterministic, so a batch delivered twice
 * gets the same id and collapses; 64 bits keep the sorting key small, and a
 * collision needs ~4e9 batches in the same partition and sort prefix.
 */
export function batchIdOf(agentId: string, sequence: number | bigint): bigint {
  return createHash('sha256')
    .update(`${agentId}/${sequence.toString()}`)
    .digest()
    .readBigUInt64BE(0);
}
