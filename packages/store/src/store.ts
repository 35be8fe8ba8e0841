// SPDX-License-Identifier: Apache-2.0
/**
 * The trace store: where rows end up and where people ask questions. Two
 * implementations, one contract (DESIGN.md "Two ways to run"): ServerStore
 * (a ClickHouse server over HTTP, 18.16 up to current) and EmbeddedStore
 * (chDB, ClickHouse in this process). The SQL is the same for both; what a
 * server version lacks is switched off through `StoreFeatures`, never by
 * the caller guessing.
 */

/** Who asks: the API token's role (DESIGN.md "Security"). operator queries as viewer. */
export type Role = 'viewer' | 'operator' | 'admin';

/** What the engine behind a store can do, from its version. */
export interface StoreFeatures {
  /** e.g. "18.16.1", "26.7.2.1" */
  version: string;
  /** LowCardinality(String) columns (19.x on; experimental before) */
  lowCardinality: boolean;
  /** column compression codecs (19.1 on) */
  codecs: boolean;
  /** table TTL (19.6 on) */
  ttl: boolean;
  /** insert_deduplication_token and non_replicated_deduplication_window (22.2 on) */
  insertDeduplicationToken: boolean;
  /** EXPLAIN AST, i.e. ClickHouse's own parser from SQL (20.6 on) */
  explainAst: boolean;
}

/** Limits of one user query; on a server they live in the query users' profile. */
export interface QueryLimits {
  maxExecutionTimeS: number;
  maxMemoryBytes: number;
  maxRowsToRead: number;
  maxResultRows: number;
  maxResultBytes: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxExecutionTimeS: 30,
  maxMemoryBytes: 2 * 1024 ** 3,
  maxRowsToRead: 2_000_000_000,
  maxResultRows: 100_000,
  maxResultBytes: 256 << 20,
};

export interface QueryResult {
  columns: Array<{ name: string; type: string }>;
  /** 64-bit integers come as decimal strings (JSON cannot hold them) */
  rows: unknown[][];
  /** what the engine reported; a streamed (embedded) result has the elapsed time only */
  statistics?: { elapsedS: number; rowsRead?: number; bytesRead?: number };
}

/** How one user query runs: who may stop it before its limits do. */
export interface QueryRunOptions {
  /** aborted when the asker went away (the HTTP client disconnected): the query is stopped */
  signal?: AbortSignal;
}

/** Every lane for user queries is taken (by queries, or by stopped ones the engine still runs). */
export class StoreBusyError extends Error {
  readonly code = 'QUERY_BUSY';
  constructor(message: string) {
    super(message);
    this.name = 'StoreBusyError';
  }
}

export interface InsertOptions {
  /**
   * Identifies the block: a retried insert of the same block is dropped by
   * the server where it supports insert deduplication tokens. Ignored where
   * it does not (the ReplacingMergeTree key still collapses the copy).
   */
  dedupToken?: string;
  /**
   * The payload's format: JSONEachRow (default; fields without a column are
   * skipped) or TabSeparated in the order of `columns` (the typed encoding).
   */
  format?: 'JSONEachRow' | 'TabSeparated';
  /** the columns of a TabSeparated payload, in order */
  columns?: string[];
}

export interface Store {
  readonly kind: 'server' | 'embedded';
  /** The engine's version and what it can do (cached after the first call). */
  features(): Promise<StoreFeatures>;
  /** DDL and maintenance, as the store's owner (ingest). */
  command(sql: string): Promise<void>;
  /** A query as the owner, rows as objects (64-bit integers as strings). */
  select<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /**
   * Inserts a JSONEachRow payload (one JSON object per line) into `table` as
   * one block. Fields the table has no column for are skipped, columns a row
   * has no field for get their defaults. Resolves once the engine
   * acknowledged the block (it is queryable then).
   */
  insert(table: string, payload: Buffer, options?: InsertOptions): Promise<void>;
  /**
   * Runs a user's query, already validated by QueryService, with the role's
   * rights and the query limits: on a server as the role's readonly user
   * (limits in its profile), embedded with the limits as query settings.
   */
  queryAs(
    role: Role,
    sql: string,
    kind?: 'select' | 'show' | 'describe' | 'explain',
    options?: QueryRunOptions,
  ): Promise<QueryResult>;
  /** ClickHouse's own AST of `sql` (EXPLAIN AST), as the viewer; only when `features().explainAst`. */
  explainAst(sql: string): Promise<string>;
  close(): Promise<void>;
}

/** An error from the engine, with its ClickHouse error code when it gave one. */
export class StoreError extends Error {
  constructor(
    readonly operation: string,
    message: string,
    readonly clickhouseCode?: number,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${message}`, options);
    this.name = 'StoreError';
  }
}

/** Features from a version string "major.minor.patch[.build]". */
export function featuresOf(version: string): StoreFeatures {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const atLeast = (a: number, b: number) => major > a || (major === a && minor >= b);
  return {
    version,
    lowCardinality: atLeast(19, 3),
    codecs: atLeast(19, 3),
    ttl: atLeast(19, 6),
    insertDeduplicationToken: atLeast(22, 2),
    explainAst: atLeast(20, 6),
  };
}

/**
 * ClickHouse error codes that mean "this data cannot be stored" (a value that
 * does not parse or fit its column) rather than "the server cannot take
 * anything now": retrying the same rows is pointless, they must be set aside.
 */
export const DATA_ERROR_CODES = new Set([
  6, 25, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 130, 131, 349, 467,
]);

/** The ClickHouse error code in an engine message ("Code: 62. DB::Exception: ..."). */
export function clickhouseCodeOf(message: string): number | undefined {
  const m = message.match(/Code: (\d+)/);
  return m ? Number(m[1]) : undefined;
}
