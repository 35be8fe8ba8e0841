// SPDX-License-Identifier: Apache-2.0
/**
 * What the controller needs from the event store to answer SQL. The store
 * package implements it (QueryService over a ClickHouse server or chDB); the
 * controller only sees this shape, so it does not load a store client it may
 * not use.
 */
export type QueryRole = 'viewer' | 'operator' | 'admin';

export interface QueryAnswer {
  columns: Array<{ name: string; type: string }>;
  rows: unknown[][];
  kind?: string;
}

export interface QueryBackend {
  /**
   * Validates (one SELECT / WITH / SHOW / DESCRIBE / EXPLAIN, harmless table
   * functions only, no SETTINGS or INTO OUTFILE) and runs `sql` with the
   * limits of `role`. Throws an error with `code` 'QUERY_REFUSED' for what is
   * not allowed, 'QUERY_FAILED' for what the engine rejected or stopped, and
   * 'QUERY_BUSY' when every lane of the store is taken (try again). An
   * aborted `signal` (the client went away) stops the query.
   */
  query(sql: string, role: QueryRole, options?: { signal?: AbortSignal }): Promise<QueryAnswer>;
}

/** The canned questions' SQL (shared with the CLI's direct mode). */
export interface CannedQueries {
  topSql(o: {
    by: 'uid' | 'comm' | 'host';
    sinceS: number;
    hosts?: string[];
    limit?: number;
  }): string;
  crashesSql(o: { sinceS: number; hosts?: string[]; limit?: number }): string;
}

/** How the controller reaches the event store; absent when it has none (queries answer 503). */
export interface QueryOptions {
  backend: QueryBackend;
  canned: CannedQueries;
  /** per-token query limits (default: 2 at once, 120 a minute) */
  limits?: { concurrent?: number; perMinute?: number };
}

export const QUERY_OPTIONS = Symbol('fleettrace.query-options');
