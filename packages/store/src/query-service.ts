// SPDX-License-Identifier: Apache-2.0
/**
 * The SQL API over a store: `query(sql, role)` for `POST /api/v1/query` and
 * `fleettrace query`. Validates (query-validator.ts), then runs the query
 * with the role's rights and limits (Store.queryAs). Every refusal is a
 * QueryRefusedError saying what is not allowed; engine errors (syntax, a
 * limit hit, access denied) come back as QueryFailedError with the engine's
 * message and code. Auditing is the caller's (the controller knows who asked).
 */
import { checkAst, checkLexically, QueryRefusedError, type StatementKind } from './query-validator';
import {
  StoreBusyError,
  StoreError,
  type QueryResult,
  type QueryRunOptions,
  type Role,
  type Store,
} from './store';

/** The engine refused or stopped a validated query (syntax, limits, rights). */
export class QueryFailedError extends Error {
  readonly code = 'QUERY_FAILED';
  constructor(
    message: string,
    readonly clickhouseCode?: number,
  ) {
    super(message);
    this.name = 'QueryFailedError';
  }
}

const ROLES = new Set<Role>(['viewer', 'operator', 'admin']);

export class QueryService {
  constructor(private readonly store: Store) {}

  /** Validates `sql` for `role` without running it; returns the statement kind and the text that would run. */
  async validate(sql: string, role: Role): Promise<{ sql: string; kind: StatementKind }> {
    if (!ROLES.has(role)) throw new QueryRefusedError(`unknown role ${JSON.stringify(role)}`);
    if (typeof sql !== 'string') throw new QueryRefusedError('the query must be a string');
    if (sql.length > 100_000)
      throw new QueryRefusedError('the query is longer than 100000 characters');
    const lexical = checkLexically(sql, role);
    if (!(await this.store.features()).explainAst) return lexical;
    let ast: string;
    try {
      ast = await this.store.explainAst(lexical.sql);
    } catch (err) {
      throw failed(err);
    }
    return { sql: lexical.sql, kind: checkAst(ast, role) };
  }

  /**
   * Validates and runs `sql`. `options.signal` stops it when the asker goes
   * away; StoreBusyError (code QUERY_BUSY) comes through as it is: every
   * query lane is taken, the caller may try again.
   */
  async query(
    sql: string,
    role: Role,
    options: QueryRunOptions = {},
  ): Promise<QueryResult & { kind: StatementKind }> {
    const v = await this.validate(sql, role);
    try {
      return { ...(await this.store.queryAs(role, v.sql, v.kind, options)), kind: v.kind };
    } catch (err) {
      if (err instanceof StoreBusyError) throw err;
      throw failed(err);
    }
  }
}

function failed(err: unknown): QueryFailedError {
  if (err instanceof StoreError) {
    // "query: Code: 159. DB::Exception: Timeout exceeded: ..." -> the engine's words
    const m = err.message
      .replace(/^\w+: /, '')
      .replace(/^Code: \d+\.?\s*(e\.displayText\(\) = )?DB::Exception:\s*/, '');
    return new QueryFailedError(
      m.split('\n')[0]!.replace(/\s*\(version [^)]*\)\s*$/, ''),
      err.clickhouseCode,
    );
  }
  return new QueryFailedError((err as Error).message);
}
