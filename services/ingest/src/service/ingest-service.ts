// SPDX-License-Identifier: Apache-2.0
/**
 * Ingest: event batches and controller changes from the bus into the store,
 * exactly once (DESIGN.md "Storage").
 *
 * Messages are decoded as they arrive and their rows encoded into one buffer
 * per table, whole batches at a time. A flush, when ≥ `flushRows` rows wait
 * or the oldest waited `flushIntervalMs`, inserts each table's buffer as one
 * block (cut on batch boundaries, with an insert deduplication token), and
 * only after the store acknowledged every block commits the bus positions of
 * the messages in it. A crash anywhere before the commit delivers the same
 * messages again; their rows carry the same batch_id and row_idx and
 * collapse (ReplacingMergeTree), so nothing is lost and nothing counts
 * twice. An insert that fails is retried with back-off for as long as it
 * takes (the store is down): the bus holds everything meanwhile, and ingest
 * stops taking messages once `maxPendingRows` wait.
 *
 * A message that cannot be decoded goes to the dead-letter sink with the
 * reason, and its position is committed with the next flush: one bad
 * message never stalls its partition.
 */
import {
  batchIdOf,
  PUBLISHER_HEADER,
  TABLES_ENCODING,
  TOPICS,
  unpackLines,
  unpackTables,
  type UnpackedSegment,
  UndecodableBatchError,
  type Bus,
  type ConsumedMessage,
  type Position,
  type Subscription,
} from '@fleettrace/bus';
import { ControlEvent, decodeWhole, EventBatch } from '@fleettrace/proto';
import { DATA_ERROR_CODES, StoreError, type Store } from '@fleettrace/store';
import {
  applyRetention,
  migrate,
  tableColumns,
  type RetentionOptions,
} from '../schema/schema-manager';
import { manifests } from '@fleettrace/collectors/manifests';
import { RowRouter } from '../writer/row-routing';
import { TableBuffer, TsvTableBuffer, type BatchContext, type Block } from '../writer/table-buffer';
import type { DeadLetterSink } from './dead-letters';
import { Failpoints } from './failpoints';
import { IngestMetrics } from './ingest-metrics';

export interface IngestOptions {
  bus: Bus;
  store: Store;
  deadLetters: DeadLetterSink;
  groupId?: string;
  /** a flush starts once this many rows wait (default 100,000: inserts of ≥ 10,000 rows, larger when busy) */
  flushRows?: number;
  /** ... or once the oldest waited this long (default 1000 ms) */
  flushIntervalMs?: number;
  /**
   * ... but while fewer than `quietRows` (default 1,000) wait, only once the
   * oldest waited this long (default: flushIntervalMs). Every insert makes a
   * part and, soon, a merge: a trickle of rows on a quiet host costs the
   * store the same per insert as a full block.
   */
  quietFlushIntervalMs?: number;
  quietRows?: number;
  /** no more messages are taken while this many rows wait (default 300,000) */
  maxPendingRows?: number;
  retention?: RetentionOptions;
  failpoints?: Failpoints;
  log?: (message: string) => void;
  /**
   * The agent id a publisher authenticated by the bus (the local bus names
   * it in `x-fleettrace-publisher`) may send batches for, or undefined when
   * it may send none. A batch of any other agent id is refused and counted,
   * before its sequence number is noted as seen: no one can pre-claim
   * another agent's sequence numbers. Messages that name no publisher
   * (Kafka, where the broker's ACLs are the fence) are not checked.
   */
  agentOfPublisher?: (publisher: string) => string | undefined;
}

export interface IngestHealth {
  ok: boolean;
  subscribed: boolean;
  /** when the store last acknowledged a flush (ms since epoch), 0 before the first */
  lastFlushOkMs: number;
  /** the error of the failing flush, while it fails */
  storeError?: string;
  /** why the bus did not answer the last check (every 5 s, 3 s to answer), while it does not */
  busError?: string;
  pendingRows: number;
}

/** Recently stored batch ids: a redelivered batch is skipped (and counted). */
class SeenBatches {
  private current = new Set<string>();
  private previous = new Set<string>();
  has(id: string): boolean {
    return this.current.has(id) || this.previous.has(id);
  }
  add(id: string): void {
    if (this.current.size >= 100_000) {
      this.previous = this.current;
      this.current = new Set();
    }
    this.current.add(id);
  }
}

export class IngestService {
  readonly metrics = new IngestMetrics();
  private readonly buffers = new Map<string, TableBuffer>();
  /** typed rows by table and column list */
  private readonly tsvBuffers = new Map<string, TsvTableBuffer>();
  private router!: RowRouter;
  private readonly unmappedLabels = new Set<string>();
  private subscription?: Subscription;
  private positions = new Map<string, Position>();
  private pendingRows = 0;
  private readonly seen = new SeenBatches();
  private oldestPendingAt = 0;
  private flushing: Promise<void> = Promise.resolve();
  private flushRunning = false;
  private flushTimer?: NodeJS.Timeout;
  /** a control message waits (flushed at flushIntervalMs, never as a quiet trickle) */
  private controlPending = false;
  /** when flushTimer fires (ms since epoch) */
  private flushDue = Infinity;
  private lagTimer?: NodeJS.Timeout;
  private retentionTimer?: NodeJS.Timeout;
  private lastFlushOkMs = 0;
  private storeError?: string;
  private busError?: string;
  private stopping = false;
  private readonly failpoints: Failpoints;
  private readonly log: (m: string) => void;
  /** duplicates and refusals since they were last logged (logged at most every 10 s) */
  private readonly unlogged = { duplicates: 0, refused: 0, last: '', at: 0 };

  constructor(private readonly options: IngestOptions) {
    this.failpoints = options.failpoints ?? new Failpoints();
    this.log = options.log ?? ((m) => process.stderr.write(`ingest: ${m}\n`));
  }

  /** Migrates the schema (retrying while the store is unreachable), then subscribes. */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await migrate(this.options.store, this.log);
        break;
      } catch (err) {
        if (this.stopping) throw err;
        if (attempt % 10 === 0) this.log(`store not ready, retrying: ${(err as Error).message}`);
        await sleep(Math.min(5000, 250 * 2 ** attempt));
      }
    }
    for (const table of (await tableColumns(this.options.store)).keys())
      this.buffers.set(table, new TableBuffer(table));
    this.router = new RowRouter(
      { get: (t) => this.buffers.get(t) },
      manifests().values(),
      (collector, field, rows) => this.unmappedField(collector, field, rows),
    );
    this.subscription = await this.options.bus.subscribe({
      groupId: this.options.groupId ?? 'fleettrace-ingest',
      topics: [TOPICS.events, TOPICS.control],
      onMessages: (messages) => this.onMessages(messages),
    });
    // The lag check doubles as the bus's health: a broker that does not answer
    // it within 3 s makes ingest unhealthy until it does again.
    this.lagTimer = setInterval(() => {
      const sub = this.subscription;
      if (!sub) return;
      let timer: NodeJS.Timeout | undefined;
      Promise.race([
        sub.lag(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer within 3 s')), 3000);
        }),
      ])
        .then(
          (v) => {
            this.metrics.lag.set(v);
            if (this.busError !== undefined) this.log('the bus answers again');
            this.busError = undefined;
          },
          (err: Error) => {
            if (this.busError === undefined)
              this.log(`the ${this.options.bus.kind} bus does not answer: ${err.message}`);
            this.busError = err.message;
          },
        )
        .finally(() => clearTimeout(timer));
    }, 5000);
    if (this.options.retention) {
      const retention = this.options.retention;
      const round = () =>
        applyRetention(this.options.store, retention, this.log).catch((err: Error) =>
          this.log(`retention: ${err.message}`),
        );
      void round();
      this.retentionTimer = setInterval(() => void round(), 10 * 60_000);
    }
    this.log(
      `consuming ${TOPICS.events} and ${TOPICS.control} from the ${this.options.bus.kind} bus into the ${this.options.store.kind} store`,
    );
  }

  health(): IngestHealth {
    return {
      ok:
        this.subscription !== undefined &&
        this.storeError === undefined &&
        this.busError === undefined,
      subscribed: this.subscription !== undefined,
      lastFlushOkMs: this.lastFlushOkMs,
      storeError: this.storeError,
      busError: this.busError,
      pendingRows: this.pendingRows,
    };
  }

  /** Flushes what waits, commits, and stops consuming. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushDue = Infinity;
    clearInterval(this.lagTimer);
    clearInterval(this.retentionTimer);
    if (this.subscription && this.storeError === undefined)
      await this.flush().catch(() => undefined);
    this.stopping = true;
    await this.subscription?.close();
    this.subscription = undefined;
  }

  /**
   * Something waits: flush it at most flushIntervalMs after the oldest of it
   * arrived. A one-shot timer, armed only while something waits, so an idle
   * ingest does not wake up.
   */
  private notePending(): void {
    if (this.oldestPendingAt === 0) this.oldestPendingAt = Date.now();
    if (this.stopping) return;
    // The controller's changes are not a trickle to save inserts on: someone waits for them.
    const busy = this.controlPending || this.pendingRows >= (this.options.quietRows ?? 1000);
    const interval = this.options.flushIntervalMs ?? 1000;
    const due =
      this.oldestPendingAt + (busy ? interval : (this.options.quietFlushIntervalMs ?? interval));
    // Armed for a later time while quiet, and now busy: sooner.
    if (this.flushTimer && this.flushDue <= due) return;
    clearTimeout(this.flushTimer);
    this.flushDue = due;
    this.flushTimer = setTimeout(
      () => {
        this.flushTimer = undefined;
        this.flushDue = Infinity;
        if (this.stopping || !this.hasPending()) return;
        // A running flush leaves what came meanwhile to the next one (finally below).
        if (!this.flushRunning) void this.flush().catch(() => undefined);
      },
      Math.max(0, due - Date.now()),
    );
  }

  private hasPending(): boolean {
    return this.pendingRows > 0 || this.positions.size > 0;
  }

  private async onMessages(messages: ConsumedMessage[]): Promise<void> {
    if (this.stopping) throw new Error('ingest is stopping');
    // Back-pressure: while the store is slow or down, take nothing more
    // until the running flush is done.
    while (this.pendingRows >= (this.options.maxPendingRows ?? 300_000)) {
      if (!this.flushRunning) void this.flush().catch(() => undefined);
      await this.flushing;
    }
    // Unpacking (gunzip on the thread pool) one message ahead of routing, so
    // at most two are unpacked at once (each bounded by MAX_UNPACKED_BYTES);
    // routing in order, waiting whenever too much is pending (see above).
    const unpackAt = (k: number) => {
      const m = messages[k];
      if (!m || m.topic === TOPICS.control) return undefined;
      const p = this.unpack(m);
      p.catch(() => undefined);
      return p;
    };
    let ahead = unpackAt(0);
    for (let k = 0; k < messages.length; k++) {
      const current = ahead;
      ahead = unpackAt(k + 1);
      const m = messages[k]!;
      while (this.pendingRows >= (this.options.maxPendingRows ?? 300_000)) {
        if (!this.flushRunning) void this.flush().catch(() => undefined);
        await this.flushing;
      }
      try {
        if (m.topic === TOPICS.control) {
          this.control(m);
          this.controlPending = true;
        } else this.event(m, await current!);
      } catch (err) {
        if (err instanceof ForgedBatchError) {
          // Counted and logged, not kept: a forger must not fill the dead-letter sink either.
          this.metrics.refusedBatches.inc({ publisher: err.publisher });
          this.unlogged.refused++;
          this.logAtMostEvery10s(err.message);
        } else {
          const reason =
            err instanceof UndecodableBatchError ||
            err instanceof RangeError ||
            err instanceof SyntaxError
              ? (err as Error).message
              : `cannot decode: ${(err as Error).message}`;
          await this.deadLetter(m, reason);
        }
      }
      const key = `${m.topic}\0${m.partition}`;
      this.positions.set(key, { topic: m.topic, partition: m.partition, next: m.offset + 1n });
      this.notePending();
      // Flush in the background as soon as enough waits: the next messages
      // decode while the store takes this block, and rows that arrive
      // meanwhile make the next block bigger. Too much waiting stops the
      // intake above.
      if (this.pendingRows >= (this.options.flushRows ?? 100_000) && !this.flushRunning)
        void this.flush().catch(() => undefined);
    }
  }

  private tsvBuffer(table: string, columns: string[], prefixed: boolean): TsvTableBuffer {
    const key = `${table}\0${columns.join(',')}`;
    let b = this.tsvBuffers.get(key);
    if (!b) this.tsvBuffers.set(key, (b = new TsvTableBuffer(table, columns, prefixed)));
    return b;
  }

  /** Counts values of a field without a column (at most 100 field labels), logs at most every 10 s. */
  private unmappedField(collector: string, field: string, rows: number): void {
    const label = `${collector}\0${field}`;
    if (!this.unmappedLabels.has(label) && this.unmappedLabels.size < 100)
      this.unmappedLabels.add(label);
    const known = this.unmappedLabels.has(label);
    this.metrics.unmappedFields.inc(
      { collector: known ? collector : '(other)', field: known ? field : '(other)' },
      rows,
    );
    this.logAtMostEvery10s(
      `${rows} ${collector} rows carried ${JSON.stringify(field.slice(0, 64))}, which no table has a column for: those values are lost (fleettrace_ingest_unmapped_fields_total)`,
    );
  }

  /** Keeps an undecodable message with the reason, or counts it dropped when the sink is full. */
  private async deadLetter(m: ConsumedMessage, reason: string): Promise<void> {
    const where = `${m.topic}/${m.partition}/${m.offset}`;
    if (await this.options.deadLetters.send(m, reason)) {
      this.metrics.deadLetters.inc();
      this.log(`dead letter ${where}: ${reason}`);
    } else {
      this.metrics.deadLettersDropped.inc();
      this.logAtMostEvery10s(`dead-letter sink full: dropped ${where} (${reason})`);
    }
  }

  private logAtMostEvery10s(message: string): void {
    const u = this.unlogged;
    u.last = message;
    const now = Date.now();
    if (now - u.at < 10_000) return;
    const extra = [
      u.duplicates ? `${u.duplicates} duplicate batches skipped` : '',
      u.refused ? `${u.refused} forged batches refused` : '',
    ].filter(Boolean);
    this.log(extra.length ? `${message}; since the last such line: ${extra.join(', ')}` : message);
    u.duplicates = 0;
    u.refused = 0;
    u.at = now;
  }

  /** Decodes the envelope and unpacks its rows; undefined for a batch already stored. */
  private async unpack(
    m: ConsumedMessage,
  ): Promise<
    | { batch: EventBatch; batchId: string; lines: string[]; segments?: UnpackedSegment[] }
    | undefined
  > {
    let batch: EventBatch;
    try {
      batch = decodeWhole(EventBatch, m.value);
    } catch (err) {
      throw new UndecodableBatchError(`not a fleettrace.v1.EventBatch: ${(err as Error).message}`);
    }
    if (!batch.agentId) throw new UndecodableBatchError('agent_id is empty');
    const publisher = m.headers[PUBLISHER_HEADER];
    if (publisher !== undefined && this.options.agentOfPublisher) {
      const allowed = this.options.agentOfPublisher(publisher);
      if (allowed !== batch.agentId) throw new ForgedBatchError(publisher, batch, allowed);
    }
    const batchId = batchIdOf(batch.agentId, batch.sequence).toString();
    if (this.seen.has(batchId)) return undefined;
    if (batch.encoding === TABLES_ENCODING)
      return { batch, batchId, lines: [], segments: await unpackTables(batch.rows) };
    return { batch, batchId, lines: await unpackLines(batch.encoding, batch.rows, batch.rowCount) };
  }

  private event(m: ConsumedMessage, unpacked: Awaited<ReturnType<IngestService['unpack']>>): void {
    if (!unpacked || this.seen.has(unpacked.batchId)) {
      this.metrics.duplicates.inc();
      this.unlogged.duplicates++;
      this.logAtMostEvery10s(
        `skipped a batch already stored (${m.key ?? 'no key'}, ${m.topic}/${m.partition}/${m.offset})`,
      );
      return;
    }
    const { batch, batchId, lines, segments } = unpacked;
    const ctx: BatchContext = {
      host: batch.host,
      jobId: batch.jobId,
      runId: batch.runId,
      weight: batch.weight || 1,
      batchId,
      source: m,
    };
    if (segments)
      this.pendingRows += this.router.routeTables(
        batch.collector,
        ctx,
        segments,
        batch.rowCount,
        (table, columns, prefixed) => this.tsvBuffer(table, columns, prefixed),
      );
    else if (lines.length > 0) this.pendingRows += this.router.route(batch.collector, ctx, lines);
    this.buffers.get('fleettrace.batches')?.addRows(ctx, [
      {
        time: Math.floor(batch.createdUnixMs / 1000),
        created_unix_ms: batch.createdUnixMs,
        agent_id: batch.agentId,
        host: batch.host,
        sequence: batch.sequence,
        job_id: batch.jobId,
        run_id: batch.runId,
        collector: batch.collector,
        row_count: batch.rowCount,
        lost: batch.lost,
        weight: ctx.weight,
        batch_id: batchId,
      },
    ]);
    this.pendingRows++;
    this.seen.add(batchId);
    this.metrics.batches.inc();
    if (batch.lost > 0) this.metrics.lost.inc(batch.lost);
  }

  private control(m: ConsumedMessage): void {
    let e: ControlEvent;
    try {
      e = decodeWhole(ControlEvent, m.value);
    } catch (err) {
      throw new UndecodableBatchError(
        `not a fleettrace.v1.ControlEvent: ${(err as Error).message}`,
      );
    }
    const version = Math.max(0, e.unixMs);
    const updated = Math.floor(version / 1000);
    const ctx: BatchContext = {
      host: '',
      jobId: '',
      runId: '',
      weight: 1,
      batchId: `${m.topic}/${m.partition}/${m.offset}`,
      source: m,
    };
    const body = e.body;
    if (!body) throw new UndecodableBatchError('ControlEvent without a body');
    const table = {
      job: 'fleettrace.jobs',
      run: 'fleettrace.job_runs',
      agent: 'fleettrace.agents',
    }[body.$case];
    const row: Record<string, unknown> = {
      ...snakeCase(body.value as unknown as Record<string, unknown>),
      updated,
      version,
    };
    this.buffers.get(table)!.addRows(ctx, [row]);
    this.pendingRows++;
  }

  /** Runs one flush after any running one; resolves when both finished. */
  private flush(): Promise<void> {
    this.flushRunning = true;
    const next = this.flushing.then(() => this.flushOnce());
    this.flushing = next.catch(() => undefined);
    return next;
  }

  private async flushOnce(): Promise<void> {
    if (!this.hasPending()) {
      this.flushRunning = false;
      return;
    }
    this.flushRunning = true;
    const started = Date.now();
    const blocks = [...this.buffers.values(), ...this.tsvBuffers.values()]
      .map((b) => b.take())
      .filter((b) => b !== undefined);
    const positions = [...this.positions.values()];
    this.positions = new Map();
    this.pendingRows = 0;
    this.oldestPendingAt = 0;
    this.controlPending = false;
    try {
      if (this.failpoints.commitFirst) await this.commitWithRetry(positions);
      this.failpoints.reach('before-insert');
      // The tables' blocks in parallel: the server inserts each on a thread of its own.
      let stored = 0;
      await Promise.all(
        blocks.map(async (block) => {
          await this.insertWithRetry(block);
          stored++;
          if (stored === 1 && blocks.length > 1) this.failpoints.reach('during-insert');
          this.metrics.inserts.inc();
          this.metrics.rows.inc({ table: block.table }, block.rows);
        }),
      );
      this.router.flushed(true);
      this.failpoints.reach('after-insert-before-commit');
      if (!this.failpoints.commitFirst) await this.commitWithRetry(positions);
      this.lastFlushOkMs = Date.now();
      this.metrics.flushSeconds.observe((Date.now() - started) / 1000);
    } catch (err) {
      // Only when stopping: the messages will come again to the next consumer.
      this.router.flushed(false);
      throw err;
    } finally {
      this.flushRunning = false;
      if (this.hasPending() && !this.stopping) this.notePending();
    }
  }

  /**
   * Inserts a block, retrying with back-off while the store is unreachable.
   * When the store refuses the data itself (a value that does not fit its
   * column), the block is cut into its batches and each inserted alone: the
   * batches it refuses go to the dead-letter sink with the reason, the
   * others are stored. A refused batch may then be stored in some tables and
   * not others; the dead letter holds all of it.
   */
  private async insertWithRetry(block: Block): Promise<void> {
    const refused = await this.insertOnce(block, block.payload, block.dedupToken);
    if (!refused) return;
    this.log(
      `${block.table} refused a block of ${block.rows} rows (${refused}): inserting its batches one by one`,
    );
    for (const slice of block.slices()) {
      const reason = await this.insertOnce(
        block,
        slice.payload,
        `${block.dedupToken}/${slice.batch.batchId}`,
      );
      if (!reason) continue;
      const source = slice.batch.source;
      if (source) await this.deadLetter(source, `${block.table} refused the rows: ${reason}`);
      else this.metrics.deadLetters.inc();
    }
  }

  /** Inserts until the store acknowledges (returns undefined) or refuses the data (returns why). */
  private async insertOnce(
    block: Block,
    payload: Buffer,
    dedupToken: string,
  ): Promise<string | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.store.insert(block.table, payload, {
          dedupToken,
          format: block.format,
          columns: block.columns,
        });
        if (this.storeError !== undefined) this.log('store is back: inserts succeed again');
        this.storeError = undefined;
        return undefined;
      } catch (err) {
        this.metrics.insertErrors.inc();
        const message = (err as Error).message;
        if (
          err instanceof StoreError &&
          err.clickhouseCode !== undefined &&
          DATA_ERROR_CODES.has(err.clickhouseCode)
        )
          return message;
        if (this.storeError === undefined)
          this.log(`insert into ${block.table} failed, retrying with back-off: ${message}`);
        this.storeError = message;
        if (this.stopping) throw err;
        await sleep(Math.min(10_000, 200 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  private async commitWithRetry(positions: Position[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.subscription?.commit(positions);
        return;
      } catch (err) {
        // Not committed means delivered again later, which is harmless; but
        // keep trying a while so a short broker outage does not redo work.
        if (attempt >= 5 || this.stopping) {
          this.log(`commit failed, retrying with the next flush: ${(err as Error).message}`);
          for (const p of positions) {
            const key = `${p.topic}\0${p.partition}`;
            if (!this.positions.has(key)) this.positions.set(key, p);
          }
          this.notePending();
          return;
        }
        await sleep(500 * (attempt + 1));
      }
    }
  }
}

/** A batch whose agent id is not the one its authenticated publisher may send. */
class ForgedBatchError extends Error {
  constructor(
    readonly publisher: string,
    batch: EventBatch,
    allowed: string | undefined,
  ) {
    super(
      `refused batch ${batch.sequence} of agent ${JSON.stringify(batch.agentId.slice(0, 64))} from publisher ${publisher}: ` +
        (allowed ? `it may send only agent ${allowed}'s batches` : 'it may send no batches yet'),
    );
    this.name = 'ForgedBatchError';
  }
}

function snakeCase(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o))
    out[k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())] = v;
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
