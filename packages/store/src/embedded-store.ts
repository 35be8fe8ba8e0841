// SPDX-License-Identifier: Apache-2.0
/**
 * The store inside this process: chDB (ClickHouse 26.x as a library) on a
 * data directory. chDB binds one data directory per process, so a process
 * opens at most one EmbeddedStore; other processes (the CLI) reach it through
 * the process that owns it. Every call goes through chDB's async API, which
 * runs the engine on the libuv thread pool: the event loop never waits on a
 * query or an insert.
 *
 * Lanes: chDB runs each connection's calls one at a time, but connections
 * (Sessions on the same directory) run in parallel. Ingest's inserts and
 * the owner's statements have a connection of their own, user queries up
 * to `maxConcurrentQueries` (default 2) more, and a last one parses
 * (EXPLAIN AST) and stops queries (KILL QUERY): a user's query can never
 * make an insert wait. A query past its time limit (+0.5 s), or whose asker
 * went away, is answered at once and killed through that last connection;
 * the engine checks for a kill between blocks, so a query stuck inside one
 * block keeps its lane until it ends, and a new query finds every lane taken
 * (StoreBusyError) rather than waiting behind it. Results come as a stream
 * and are cut at max_result_bytes (the engine does not apply it to a
 * one-block result).
 *
 * On one connection, after a query fails, chDB 26.7 hands the failed query's
 * partial output to the next query (seen with a timed-out SELECT followed by
 * EXPLAIN AST), so a failure is followed by a throw-away query that takes
 * the leftover, before anything else runs on that connection.
 *
 * There are no users in-process: a query runs with the owner's rights.
 * QueryService's validation is therefore the fence here (one statement,
 * harmless table functions, no SETTINGS, no sensitive database for viewers),
 * and the query limits are added as the query's own SETTINGS, ending with
 * readonly=1 so the rest of the query cannot change them.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'chdb';
import {
  clickhouseCodeOf,
  DEFAULT_QUERY_LIMITS,
  featuresOf,
  StoreError,
  StoreBusyError,
  type InsertOptions,
  type QueryLimits,
  type QueryResult,
  type QueryRunOptions,
  type Role,
  type Store,
  type StoreFeatures,
} from './store';

export interface EmbeddedStoreOptions {
  dataDir: string;
  limits?: QueryLimits;
  /** user queries running at once (default 2), each on a connection of its own */
  maxConcurrentQueries?: number;
}

/** How long past its time limit a query is answered and killed. */
const KILL_GRACE_MS = 500;

/** One chDB connection; its calls run one at a time. */
class Lane {
  private queue: Promise<unknown> = Promise.resolve();
  /** a user query (or a stopped one the engine still runs) holds it */
  busy = false;

  constructor(readonly session: Session) {}

  serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Takes what a failed query left behind on this connection (see the file comment). */
  async drain(): Promise<void> {
    await this.session.queryAsync('SELECT 1', { format: 'TSV' }).catch(() => undefined);
  }

  async run(operation: string, sql: string, format: string): Promise<string> {
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
  private features_?: Promise<StoreFeatures>;
  private readonly limits: QueryLimits;
  /** inserts, DDL and the owner's selects */
  private readonly writer: Lane;
  /** EXPLAIN AST and KILL QUERY: short statements that must not wait for a user's query */
  private readonly control: Lane;
  /** user queries, one at a time each, opened as needed */
  private readonly queryLanes: Lane[] = [];
  private readonly maxConcurrentQueries: number;
  private readonly config: string;

  constructor(readonly options: EmbeddedStoreOptions) {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    // The engine's own timers wake it up to 20 times a second on an idle host
    // (MemoryWorker every 50 ms, asynchronous metrics every second); on an
    // always-on host that is most of fleettrace's idle cost. Slow them down.
    this.config = join(options.dataDir, '.fleettrace-engine.xml');
    writeFileSync(this.config, ENGINE_CONFIG, { mode: 0o600 });
    this.writer = this.openLane();
    this.control = this.openLane();
    this.limits = options.limits ?? DEFAULT_QUERY_LIMITS;
    this.maxConcurrentQueries = Math.max(1, options.maxConcurrentQueries ?? 2);
  }

  private openLane(): Lane {
    return new Lane(
      new Session(this.options.dataDir, { connectionArgs: [`--config-file=${this.config}`] }),
    );
  }

  features(): Promise<StoreFeatures> {
    this.features_ ??= this.select<{ v: string }>('SELECT version() AS v').then((rows) =>
      featuresOf(rows[0]?.v ?? '0.0'),
    );
    return this.features_;
  }

  async command(sql: string): Promise<void> {
    await this.writer.run('command', sql, 'TSV');
  }

  async select<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const text = await this.writer.run('select', sql, 'JSONEachRow');
    if (text.length === 0) return [];
    return JSON.parse(`[${text.trimEnd().replaceAll('\n', ',')}]`) as T[];
  }

  async insert(table: string, payload: Buffer, options: InsertOptions = {}): Promise<void> {
    const tsv = options.format === 'TabSeparated';
    const settings: Record<string, string | number> = tsv
      ? {}
      : { input_format_skip_unknown_fields: 1 };
    if (options.dedupToken) settings.insert_deduplication_token = options.dedupToken;
    const lane = this.writer;
    await lane.serialized(async () => {
      try {
        await lane.session.insert(
          tsv
            ? { table, values: payload, format: 'TabSeparated', columns: options.columns, settings }
            : { table, values: payload, format: 'JSONEachRow', settings },
        );
      } catch (err) {
        await lane.drain();
        const message = (err as Error).message;
        throw new StoreError(`insert into ${table}`, message, clickhouseCodeOf(message), {
          cause: err,
        });
      }
    });
  }

  /** User queries running now, and those stopped that the engine still runs. */
  queriesRunning(): number {
    return this.queryLanes.filter((l) => l.busy).length;
  }

  async queryAs(
    _role: Role,
    sql: string,
    kind?: 'select' | 'show' | 'describe' | 'explain',
    options: QueryRunOptions = {},
  ): Promise<QueryResult> {
    let lane = this.queryLanes.find((l) => !l.busy);
    if (!lane && this.queryLanes.length < this.maxConcurrentQueries) {
      lane = this.openLane();
      this.queryLanes.push(lane);
    }
    if (!lane)
      throw new StoreBusyError(
        `${this.maxConcurrentQueries} queries are running or being stopped already: try again shortly`,
      );
    lane.busy = true;
    // Found again in system.processes by this tag, to kill it from the control connection.
    const tag = `fleettrace-query-${randomUUID()}`;
    const text = `${sql}\n/* ${tag} */\nSETTINGS ${limitSettings(this.limits, kind !== 'explain')}`;
    const started = performance.now();
    let stopped: StoreError | undefined;
    let answerStopped: (err: StoreError) => void = () => undefined;
    const whenStopped = new Promise<never>((_, reject) => (answerStopped = reject));
    whenStopped.catch(() => undefined);
    const stop = (err: StoreError) => {
      if (stopped) return;
      stopped = err;
      answerStopped(err);
      void this.control
        .run(
          'kill',
          `KILL QUERY WHERE query LIKE '%${tag}%' AND NOT startsWith(query, 'KILL') ASYNC`,
          'TSV',
        )
        .catch(() => undefined);
    };
    const timer = setTimeout(
      () =>
        stop(
          new StoreError(
            'query',
            `Code: 159. DB::Exception: Timeout exceeded: stopped at the time limit of ${this.limits.maxExecutionTimeS} s`,
            159,
          ),
        ),
      this.limits.maxExecutionTimeS * 1000 + KILL_GRACE_MS,
    );
    const onAbort = () =>
      stop(
        new StoreError(
          'query',
          'Code: 394. DB::Exception: Query was cancelled: its client went away',
          394,
        ),
      );
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    const cap = this.limits.maxResultBytes;
    const streamed = (async () => {
      const chunks: string[] = [];
      let bytes = 0;
      const format = 'JSONCompactEachRowWithNamesAndTypes';
      // chDB streams SELECTs only; SHOW, DESCRIBE and EXPLAIN answer a few rows at once.
      const source: AsyncIterable<{ numBytes: number; text(): string }> =
        kind === 'select' || kind === undefined
          ? lane.session.queryStream(text, { format })
          : (async function* () {
              const r = await lane.session.queryAsync(text, { format });
              const t = r.text();
              yield { numBytes: Buffer.byteLength(t), text: () => t };
            })();
      try {
        for await (const chunk of source) {
          if (stopped) break;
          bytes += chunk.numBytes;
          if (bytes > cap) {
            stop(
              new StoreError(
                'query',
                `Code: 396. DB::Exception: Limit for result exceeded: the result is larger than max_result_bytes (${cap} bytes); add a LIMIT or aggregate`,
                396,
              ),
            );
            break;
          }
          chunks.push(chunk.text());
        }
      } catch (err) {
        await lane.drain();
        const message = (err as Error).message;
        throw new StoreError('query', message, clickhouseCodeOf(message), { cause: err });
      }
      return chunks;
    })();
    // The lane is free again only once the engine is done with it, answered or not.
    streamed
      .catch(() => undefined)
      .finally(() => {
        lane.busy = false;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      });
    const chunks = await Promise.race([streamed, whenStopped]);
    if (stopped) throw stopped;
    const lines = chunks.join('').split('\n');
    const names = JSON.parse(lines[0] ?? '[]') as string[];
    const types = JSON.parse(lines[1] ?? '[]') as string[];
    const rows: unknown[][] = [];
    for (let i = 2; i < lines.length; i++)
      if (lines[i]!.length > 0) rows.push(JSON.parse(lines[i]!) as unknown[]);
    return {
      columns: names.map((name, i) => ({ name, type: types[i] ?? '' })),
      rows,
      statistics: { elapsedS: (performance.now() - started) / 1000 },
    };
  }

  explainAst(sql: string): Promise<string> {
    return this.control.run('parse', `EXPLAIN AST ${sql}`, 'TSVRaw');
  }

  async close(): Promise<void> {
    for (const lane of [...this.queryLanes, this.control, this.writer]) lane.session.close();
  }
}
