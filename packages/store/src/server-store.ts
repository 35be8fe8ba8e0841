// SPDX-License-Identifier: Apache-2.0
/**
 * The store on a ClickHouse server, over HTTP with @clickhouse/client 1.x.
 * Three server users, set up by the operator (server-users.ts writes them):
 * the owner (ingest: DDL and inserts), and one readonly=1 user per query role
 * whose profile holds the query limits and whose allowed databases decide
 * whether it sees fleettrace_sensitive. Under readonly=1 a client can change
 * no setting, so the limits cannot be lifted from a query; that is why user
 * queries never run as the owner.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import {
  clickhouseCodeOf,
  featuresOf,
  DEFAULT_QUERY_LIMITS,
  StoreError,
  type InsertOptions,
  type QueryLimits,
  type QueryResult,
  type QueryRunOptions,
  type Role,
  type Store,
  type StoreFeatures,
} from './store';

export interface Credentials {
  username: string;
  password: string;
}

export interface ServerStoreOptions {
  /** e.g. http://127.0.0.1:8123 */
  url: string;
  /** the owner (ingest); default user "default" with no password */
  owner?: Credentials;
  /** readonly users per query role; defaults: fleettrace_viewer / fleettrace_admin, no password */
  viewer?: Credentials;
  admin?: Credentials;
  /** per request, default 60 s (a user query is stopped by its profile's max_execution_time first) */
  requestTimeoutMs?: number;
  /**
   * The query users' limits, as written into their profile (server-users.ts):
   * a query still running at maxExecutionTimeS + 0.5 s (one block the server
   * checks its limit only after) is answered and killed as the owner, and a
   * result is cut at maxResultBytes here too (the server does not apply it
   * to a one-block result).
   */
  limits?: QueryLimits;
}

export class ServerStore implements Store {
  readonly kind = 'server' as const;
  private readonly owner: ClickHouseClient;
  private readonly viewer: ClickHouseClient;
  private readonly admin: ClickHouseClient;
  private features_?: Promise<StoreFeatures>;

  constructor(readonly options: ServerStoreOptions) {
    const client = (c: Credentials) =>
      createClient({
        url: options.url,
        username: c.username,
        password: c.password,
        request_timeout: options.requestTimeoutMs ?? 60_000,
        // The stores' errors reach the caller as exceptions; the client's own
        // error log would print each one a second time.
        log: { level: ClickHouseLogLevel.OFF },
        // 18.16 knows none of the settings newer clients send by default.
        clickhouse_settings: {},
      });
    this.owner = client(options.owner ?? { username: 'default', password: '' });
    this.viewer = client(options.viewer ?? { username: 'fleettrace_viewer', password: '' });
    this.admin = client(options.admin ?? { username: 'fleettrace_admin', password: '' });
  }

  features(): Promise<StoreFeatures> {
    this.features_ ??= this.select<{ v: string }>('SELECT version() AS v').then(
      (rows) => featuresOf(rows[0]?.v ?? '0.0'),
      (err: unknown) => {
        this.features_ = undefined;
        throw err;
      },
    );
    return this.features_;
  }

  async command(sql: string): Promise<void> {
    try {
      await this.owner.command({ query: sql });
    } catch (err) {
      throw wrap('command', err);
    }
  }

  async select<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    try {
      const rs = await this.owner.query({ query: sql, format: 'JSONEachRow' });
      return await rs.json<T>();
    } catch (err) {
      throw wrap('select', err);
    }
  }

  async insert(table: string, payload: Buffer, options: InsertOptions = {}): Promise<void> {
    const tsv = options.format === 'TabSeparated';
    for (const c of options.columns ?? [])
      if (!/^[a-z_][a-z0-9_]*$/.test(c))
        throw new StoreError(`insert into ${table}`, `bad column name ${JSON.stringify(c)}`);
    const settings: Record<string, string | number> = tsv
      ? {}
      : { input_format_skip_unknown_fields: 1 };
    if (options.dedupToken && (await this.features()).insertDeduplicationToken)
      settings.insert_deduplication_token = options.dedupToken;
    try {
      // exec, not insert(): the payload is serialized already, which the
      // client's insert() would want as objects to serialize itself.
      const r = await this.owner.exec({
        query: tsv
          ? `INSERT INTO ${table} (${(options.columns ?? []).join(', ')}) FORMAT TabSeparated`
          : `INSERT INTO ${table} FORMAT JSONEachRow`,
        values: Readable.from([payload], { objectMode: false }),
        clickhouse_settings: settings,
      });
      r.stream.resume();
      await new Promise<void>((resolve, reject) => {
        r.stream.once('end', resolve);
        r.stream.once('error', reject);
      });
    } catch (err) {
      throw wrap(`insert into ${table}`, err);
    }
  }

  async queryAs(
    role: Role,
    sql: string,
    _kind?: string,
    options: QueryRunOptions = {},
  ): Promise<QueryResult> {
    const client = role === 'admin' ? this.admin : this.viewer;
    const limits = this.options.limits ?? DEFAULT_QUERY_LIMITS;
    const queryId = `fleettrace-${randomUUID()}`;
    const request = new AbortController();
    let stopped: StoreError | undefined;
    const stop = (err: StoreError) => {
      if (stopped) return;
      stopped = err;
      request.abort();
      // Closing the connection does not stop a query on every server version: kill it.
      void this.owner
        .command({ query: `KILL QUERY WHERE query_id = '${queryId}' ASYNC` })
        .catch(() => undefined);
    };
    const timer = setTimeout(
      () =>
        stop(
          new StoreError(
            'query',
            `Timeout exceeded: stopped at the time limit of ${limits.maxExecutionTimeS} s`,
            159,
          ),
        ),
      limits.maxExecutionTimeS * 1000 + 500,
    );
    const onAbort = () =>
      stop(new StoreError('query', 'Query was cancelled: its client went away', 394));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    try {
      const r = await client.exec({
        query: `${sql}\nFORMAT JSONCompact`,
        query_id: queryId,
        abort_signal: request.signal,
      });
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of r.stream as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > limits.maxResultBytes) {
          stop(
            new StoreError(
              'query',
              `Limit for result exceeded: the result is larger than max_result_bytes (${limits.maxResultBytes} bytes); add a LIMIT or aggregate`,
              396,
            ),
          );
          break;
        }
        chunks.push(chunk);
      }
      if (stopped) throw stopped;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        meta?: Array<{ name: string; type: string }>;
        data: unknown[][];
        statistics?: { elapsed: number; rows_read: number; bytes_read: number };
      };
      return {
        columns: body.meta ?? [],
        rows: body.data,
        statistics: body.statistics && {
          elapsedS: body.statistics.elapsed,
          rowsRead: body.statistics.rows_read,
          bytesRead: body.statistics.bytes_read,
        },
      };
    } catch (err) {
      if (stopped) throw stopped;
      throw wrap('query', err);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async explainAst(sql: string): Promise<string> {
    try {
      const rs = await this.viewer.query({
        query: `EXPLAIN AST ${sql}`,
        format: 'TabSeparatedRaw',
      });
      return await rs.text();
    } catch (err) {
      throw wrap('parse', err);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.owner.close(), this.viewer.close(), this.admin.close()]);
  }
}

function wrap(operation: string, err: unknown): StoreError {
  const e = err as Error & { code?: string };
  const message = (e.message ?? String(err))
    .replace(/, e\.what\(\) = DB::Exception\s*$/, '')
    .trim();
  return new StoreError(
    operation,
    message,
    clickhouseCodeOf(message) ?? (e.code && /^\d+$/.test(e.code) ? Number(e.code) : undefined),
    {
      cause: err,
    },
  );
}
