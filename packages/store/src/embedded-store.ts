// SPDX-License-Identifier: Apache-2.0
/**
 * The store inside this process: chDB (ClickHouse 26.x as a library) on a
 * data directory. chDB binds one data directory per process, so a process
 * opens at most one EmbeddedStore; other processes (the CLI) reach it through
 * the process that owns it. Every call goes through chDB's async API, which
 * runs the engine on the libuv thread pool: the event loop never waits on a
 * query or an insert.
 *
 * Calls are serialized: after a query fails, chDB 26.7 hands the failed
 * query's partial output to the next query on the session (seen with a
 * timed-out SELECT followed by EXPLAIN AST), so a failure is followed by a
 * throw-away query that takes the leftover, before anything else runs.
 *
 * There are no users in-process: a query runs with the owner's rights.
 * QueryService's validation is therefore the fence here (one statement,
 * harmless table functions, no SETTINGS, no sensitive database for viewers),
 * and the query limits are added as the query's own SETTINGS, ending with
 * readonly=1 so the rest of the query cannot change them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'chdb';
import {
  clickhouseCodeOf,
  DEFAULT_QUERY_LIMITS,
  featuresOf,
  StoreError,
  type InsertOptions,
  type QueryLimits,
  type QueryResult,
  type Role,
  type Store,
  type StoreFeatures,
} from './store';

export interface EmbeddedStoreOptions {
  dataDir: string;
  limits?: QueryLimits;
}

/**
 * The limits as a SETTINGS clause. readonly=1 comes last so nothing after it
 * could change them; EXPLAIN, which executes nothing, gets them without it
 * (the engine refuses EXPLAIN under readonly=1).
 */
export function limitSettings(l: QueryLimits, readonly = true): string {
  return [
    `max_execution_time = ${l.maxExecutionTimeS}`,
    `timeout_overflow_mode = 'throw'`,
    `max_memory_usage = ${l.maxMemoryBytes}`,
    `max_rows_to_read = ${l.maxRowsToRead}`,
    `read_overflow_mode = 'throw'`,
    `max_result_rows = ${l.maxResultRows}`,
    `max_result_bytes = ${l.maxResultBytes}`,
    `result_overflow_mode = 'throw'`,
    // 64-bit integers as JSON strings, as the server sends them
    `output_format_json_quote_64bit_integers = 1`,
    ...(readonly ? ['readonly = 1'] : []),
  ].join(', ');
}

/** Server settings of the embedded engine (a config file: they are not query settings). */
const ENGINE_CONFIG = `<clickhouse>
  <memory_worker_period_ms>5000</memory_worker_period_ms>
  <asynchronous_metrics_update_period_s>60</asynchronous_metrics_update_period_s>
  <background_processing_pool_thread_sleep_seconds_if_nothing_to_do>2</background_processing_pool_thread_sleep_seconds_if_nothing_to_do>
</clickhouse>
`;

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const;
  private readonly session: Session;
  private features_?: Promise<StoreFeatures>;
  private readonly limits: QueryLimits;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly options: EmbeddedStoreOptions) {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    // The engine's own timers wake it up to 20 times a second on an idle host
    // (MemoryWorker every 50 ms, asynchronous metrics every second); on an
    // always-on host that is most of fleettrace's idle cost. Slow them down.
    const config = join(options.dataDir, '.fleettrace-engine.xml');
    writeFileSync(config, ENGINE_CONFIG, { mode: 0o600 });
    this.session = new Session(options.dataDir, { connectionArgs: [`--config-file=${config}`] });
    this.limits = options.limits ?? DEFAULT_QUERY_LIMITS;
  }

  features(): Promise<StoreFeatures> {
    this.features_ ??= this.select<{ v: string }>('SELECT version() AS v').then((rows) =>
      featuresOf(rows[0]?.v ?? '0.0'),
    );
    return this.features_;
  }

  async command(sql: string): Promise<void> {
    await this.run('command', sql, 'TSV');
  }

  async select<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const text = await this.run('select', sql, 'JSONEachRow');
    if (text.length === 0) return [];
    return JSON.parse(`[${text.trimEnd().replaceAll('\n', ',')}]`) as T[];
  }

  async insert(table: string, payload: Buffer, options: InsertOptions = {}): Promise<void> {
    const settings: Record<string, string | number> = { input_format_skip_unknown_fields: 1 };
    if (options.dedupToken) settings.insert_deduplication_token = options.dedupToken;
    await this.serialized(async () => {
      try {
        await this.session.insert({ table, values: payload, format: 'JSONEachRow', settings });
      } catch (err) {
        await this.drain();
        const message = (err as Error).message;
        throw new StoreError(`insert into ${table}`, message, clickhouseCodeOf(message), {
          cause: err,
        });
      }
    });
  }

  async queryAs(
    _role: Role,
    sql: string,
    kind?: 'select' | 'show' | 'describe' | 'explain',
  ): Promise<QueryResult> {
    const settings = limitSettings(this.limits, kind !== 'explain');
    const text = await this.run('query', `${sql}\nSETTINGS ${settings}`, 'JSONCompact');
    const body = JSON.parse(text) as {
      meta: Array<{ name: string; type: string }>;
      data: unknown[][];
      statistics?: { elapsed: number; rows_read: number; bytes_read: number };
    };
    return {
      columns: body.meta,
      rows: body.data,
      statistics: body.statistics && {
        elapsedS: body.statistics.elapsed,
        rowsRead: body.statistics.rows_read,
        bytesRead: body.statistics.bytes_read,
      },
    };
  }

  explainAst(sql: string): Promise<string> {
    return this.run('parse', `EXPLAIN AST ${sql}`, 'TSVRaw');
  }

  async close(): Promise<void> {
    this.session.close();
  }

  private run(operation: string, sql: string, format: string): Promise<string> {
    return this.serialized(async () => {
      try {
        const r = await this.session.queryAsync(sql, { format });
        return r.text();
      } catch (err) {
        await this.drain();
        const message = (err as Error).message;
        throw new StoreError(operation, message, clickhouseCodeOf(message), { cause: err });
      }
    });
  }

  /** Takes what a failed query left behind on the session (see the file comment). */
  private async drain(): Promise<void> {
    await this.session.queryAsync('SELECT 1', { format: 'TSV' }).catch(() => undefined);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
