// SPDX-License-Identifier: Apache-2.0
/**
 * Turns the job runner's row batches into EventBatch envelopes and gets them
 * onto the bus, in order, without losing them when the bus is away.
 *
 * Envelopes: rows of one (job, run, collector) are collected until the
 * serialized rows reach `maxBatchBytes` or the oldest waited `maxDelayMs`,
 * then packed (ROWS_ENCODING) with the agent id, host and a sequence number
 * that increases across restarts (SequenceStore). (agent id, sequence) is the
 * batch's identity downstream: the store collapses one delivered twice.
 *
 * Sending: one loop, one bus publish at a time, in sequence order. While the
 * bus acknowledges, envelopes go straight from memory. When a publish fails,
 * that envelope and everything after it go to the DiskSpool, new envelopes
 * follow them there (the spool always holds the oldest), and the loop
 * replays the spool, oldest first, with back-off until the bus takes it
 * again; only then does it send from memory again. A restarted agent starts
 * by replaying what its predecessor spooled.
 *
 * Contract: `publish` is called on the main thread, never blocks and never
 * throws; the row objects are serialized before it returns (the caller may
 * reuse them). Errors of the bus or the disk are counted and logged.
 */
import { join } from 'node:path';
import { tableEncoder, type TableEncoder, type TableSegment } from '@fleettrace/collector-spec';
import { manifest } from '@fleettrace/collectors/manifests';
import {
  TOPICS,
  packRows,
  packTables,
  rowLine,
  ROWS_ENCODING,
  TABLES_ENCODING,
  type Bus,
} from '@fleettrace/bus';
import { memoryCaches, type TrackedCache } from '@fleettrace/common';
import { EventBatch } from '@fleettrace/proto';
import type { RowBatch } from '../jobs/job-executor';
import { DiskSpool, type SpooledBatch } from './disk-spool';
import { PublisherMetrics } from './publisher-metrics';
import { SequenceStore } from './sequence-store';

export interface EventPublisherOptions {
  agentId: string;
  host: string;
  bus: Bus;
  /** the agent's state directory: the spool goes to <stateDir>/spool, the sequence to <stateDir>/publish-sequence */
  stateDir: string;
  topic?: string;
  /** serialized (uncompressed) rows per envelope, default 1 MiB */
  maxBatchBytes?: number;
  /** the longest a row waits for its envelope to fill, default 1000 ms */
  maxDelayMs?: number;
  /** encoded envelopes per bus publish call, default 8 MiB */
  maxPublishBytes?: number;
  /**
   * envelopes held in memory beyond this go to the spool even while the bus
   * works, default 32 MiB; under memory pressure (the agent's governor) they
   * all do
   */
  maxMemoryBytes?: number;
  /** the spool's bound, default 1 GiB */
  spoolMaxBytes?: number;
  /** back-off between failed publishes: starts at `retryMinMs` (250), doubles up to `retryMaxMs` (5000) */
  retryMinMs?: number;
  retryMaxMs?: number;
  log?: (message: string) => void;
  /**
   * How rows travel: `tsv` (default), the typed encoding from the collector's
   * manifest (TABLES_ENCODING: ingest stores the bytes without parsing a
   * row), or `json`, JSON lines, for debugging and for collectors without a
   * manifest.
   */
  rowsEncoding?: 'tsv' | 'json';
  /** rows of one run the bus acknowledged (from memory or the spool), once per run per publish */
  onAcknowledged?: (jobId: string, runId: string, rows: number) => void;
}

interface OpenBatch {
  jobId: string;
  runId: string;
  collector: string;
  weight: number;
  /** JSON lines, or the typed encoding's segments by table */
  lines: string[];
  segments?: Map<string, TableSegment>;
  rows: number;
  bytes: number;
  lost: number;
  timer: NodeJS.Timeout;
}

interface Outgoing {
  sequence: number;
  jobId: string;
  runId: string;
  rowCount: number;
  /** resolves to the encoded envelope (packing runs on the thread pool) */
  bytes: Promise<Buffer>;
  size: number;
}

export class EventPublisher {
  readonly metrics = new PublisherMetrics();
  private readonly open_ = new Map<string, OpenBatch>();
  private outbox: Outgoing[] = [];
  private outboxBytes = 0;
  private readonly spool: DiskSpool;
  private readonly sequences: SequenceStore;
  private readonly topic: string;
  private wake?: () => void;
  private idleWaiters: Array<() => void> = [];
  private readonly loop: Promise<void>;
  private retryMs = 0;
  private retryAt = 0;
  private stopping = false;
  private closed = false;
  private readonly encoders = new Map<string, TableEncoder | undefined>();
  private unmappedLoggedAt = 0;
  /** the memory governor asked for the outbox to go to the spool */
  private spillNow = false;
  /** envelopes moved from memory to the spool while the bus worked (bound or pressure) */
  private spilled = 0;
  /** The outbox as a tracked cache: size and bound in /metrics; a shrink spools it. */
  private readonly memory: TrackedCache = {
    figures: () => ({
      name: 'publish.outbox',
      entries: this.outbox.length,
      bytes: this.outboxBytes,
      maxBytes: this.maxMemoryBytes(),
      evictions: this.spilled,
    }),
    shrink: () => {
      if (this.outbox.length === 0) return;
      this.spillNow = true;
      this.wake?.();
    },
  };

  constructor(private readonly options: EventPublisherOptions) {
    this.topic = options.topic ?? TOPICS.events;
    this.spool = new DiskSpool(join(options.stateDir, 'spool'), options.spoolMaxBytes ?? 1 << 30);
    this.sequences = new SequenceStore(
      join(options.stateDir, 'publish-sequence'),
      this.spool.lastSequence + 1,
    );
    this.updateGauges();
    memoryCaches.register(this.memory);
    if (this.spool.count > 0)
      this.log(`replaying ${this.spool.count} spooled batches (${this.spool.bytes} bytes)`);
    this.loop = this.run();
  }

  /** Takes one interval's rows of one collector of one run. */
  publish(batch: RowBatch): void {
    if (this.closed) {
      this.metrics.lost.inc({ stage: 'spool_write' }, batch.rows.length);
      return;
    }
    this.metrics.events.inc(batch.rows.length);
    if (batch.lost > 0) this.metrics.lost.inc({ stage: 'collector' }, batch.lost);
    const key = `${batch.jobId}\0${batch.runId}\0${batch.collector}`;
    const max = this.options.maxBatchBytes ?? 1 << 20;
    let open = this.open_.get(key);
    const encoder = this.encoderOf(batch.collector);
    const start = (): OpenBatch => {
      const b: OpenBatch = {
        jobId: batch.jobId,
        runId: batch.runId,
        collector: batch.collector,
        weight: batch.weight,
        lines: [],
        segments: encoder ? new Map() : undefined,
        rows: 0,
        bytes: 0,
        lost: 0,
        timer: setTimeout(() => this.cut(key), this.options.maxDelayMs ?? 1000),
      };
      this.open_.set(key, b);
      return b;
    };
    open ??= start();
    open.lost += batch.lost;
    if (encoder) {
      // One row at a time, so that an envelope is cut near its size.
      for (const row of batch.rows) {
        if (open.rows > 0 && open.bytes > max) {
          this.cut(key);
          open = start();
        }
        const r = encoder.encode([row as Record<string, unknown>], open.rows, open.segments!);
        open.rows++;
        open.bytes += r.bytes;
        if (r.unmapped) this.unmapped(batch.collector, r.unmapped);
      }
      return;
    }
    for (const row of batch.rows) {
      const line = rowLine(row);
      if (open.lines.length > 0 && open.bytes + line.length + 1 > max) {
        this.cut(key);
        open = start();
      }
      open.lines.push(line);
      open.rows++;
      open.bytes += line.length + 1;
    }
  }

  /** The typed encoder of a collector, or undefined for JSON lines. */
  private encoderOf(collector: string): TableEncoder | undefined {
    if (this.options.rowsEncoding === 'json') return undefined;
    if (!this.encoders.has(collector)) {
      const m = manifest(collector);
      this.encoders.set(collector, m && tableEncoder(m));
    }
    return this.encoders.get(collector);
  }

  /** Row fields the manifest has no column for: their values are lost, counted and logged. */
  private unmapped(collector: string, fields: Map<string, number>): void {
    let n = 0;
    for (const v of fields.values()) n += v;
    this.metrics.lost.inc({ stage: 'unmapped_field' }, n);
    const now = Date.now();
    if (now - this.unmappedLoggedAt < 10_000) return;
    this.unmappedLoggedAt = now;
    this.log(
      `${collector} rows carry ${[...fields.keys()].map((f) => JSON.stringify(f)).join(', ')}, which its manifest has no column for: those values are not sent`,
    );
  }

  /** Packs every open batch now and waits until all of them were acknowledged or spooled. */
  async flush(): Promise<void> {
    for (const key of [...this.open_.keys()]) this.cut(key);
    if (this.outbox.length === 0) return;
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.wake?.();
    });
  }

  /** Batches and bytes waiting in the spool. */
  spoolState(): { batches: number; bytes: number } {
    return { batches: this.spool.count, bytes: this.spool.bytes };
  }

  /**
   * Stops: packs open batches, gives the bus up to `graceMs` to take what is
   * in memory, and spools the rest for the next start.
   */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((r) => {
        timer = setTimeout(r, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.closed = true;
    this.stopping = true;
    this.wake?.();
    // A hung bus holds the loop inside a publish until the client's own timeout (30 s):
    // its batches are still in the outbox and go to the spool as well. If the bus took
    // them after all, downstream keeps one copy of each (agent id, sequence).
    let waitTimer: NodeJS.Timeout | undefined;
    const stuck = await Promise.race([
      this.loop.then(() => false),
      new Promise<boolean>((r) => {
        waitTimer = setTimeout(() => r(true), 500);
      }),
    ]);
    clearTimeout(waitTimer);
    if (stuck && this.outbox.length > 0)
      this.log(
        `the bus has not answered the last publish: its ${this.outbox.length} batches are spooled`,
      );
    if (this.outbox.length > 0) await this.toSpool(this.outbox.splice(0));
    this.updateGauges();
  }

  private cut(key: string): void {
    const open = this.open_.get(key);
    if (!open) return;
    this.open_.delete(key);
    clearTimeout(open.timer);
    if (open.rows === 0 && open.lost === 0) return;
    const sequence = this.sequences.take();
    const rowCount = open.rows;
    const typed = open.segments !== undefined;
    const packed = typed ? packTables(open.segments!.values()) : packRows(open.lines);
    const bytes = packed.then((rows) =>
      Buffer.from(
        EventBatch.encode({
          agentId: this.options.agentId,
          host: this.options.host,
          sequence,
          jobId: open.jobId,
          runId: open.runId,
          collector: open.collector,
          createdUnixMs: Date.now(),
          encoding: typed ? TABLES_ENCODING : ROWS_ENCODING,
          rows,
          rowCount,
          lost: open.lost,
          weight: open.weight,
        }).finish(),
      ),
    );
    // The size is known only once packed; the raw size bounds it from above.
    this.outbox.push({
      sequence,
      jobId: open.jobId,
      runId: open.runId,
      rowCount,
      bytes,
      size: open.bytes,
    });
    this.outboxBytes += open.bytes;
    this.updateGauges();
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // flush() waits for every envelope in memory to be acknowledged or spooled.
      if (this.outbox.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      try {
        if (this.spool.count > 0) {
          // Order: what is in memory is newer than everything spooled.
          if (this.outbox.length > 0) await this.toSpool(this.outbox.splice(0));
          if (Date.now() >= this.retryAt) await this.sendSpooled();
          else await this.sleep(this.retryAt - Date.now());
        } else if (this.outbox.length > 0) {
          if (this.spillNow || this.outboxBytes > this.maxMemoryBytes()) {
            this.spillNow = false;
            this.spilled += this.outbox.length;
            await this.toSpool(this.outbox.splice(0));
          } else await this.sendFromMemory();
        } else {
          await this.sleep();
        }
      } catch (err) {
        this.log(`send loop: ${(err as Error).message}`);
        await this.sleep(1000);
      }
    }
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async sendFromMemory(): Promise<void> {
    const limit = this.options.maxPublishBytes ?? 8 << 20;
    const taken: Outgoing[] = [];
    let size = 0;
    for (const o of this.outbox) {
      if (taken.length > 0 && size + o.size > limit) break;
      taken.push(o);
      size += o.size;
    }
    const encoded = await Promise.all(taken.map((o) => o.bytes));
    try {
      await this.options.bus.publish(
        this.topic,
        encoded.map((value) => ({ key: this.options.agentId, value })),
      );
    } catch (err) {
      this.failed(err);
      // This batch and everything after it wait on disk, in order.
      await this.toSpool(this.outbox.splice(0));
      return;
    }
    this.outbox.splice(0, taken.length);
    this.outboxBytes = this.outbox.reduce((s, o) => s + o.size, 0);
    this.acknowledged(taken);
  }

  private async sendSpooled(): Promise<void> {
    const head = await this.spool.head(this.options.maxPublishBytes ?? 8 << 20);
    try {
      await this.options.bus.publish(
        this.topic,
        head.map((b) => ({ key: this.options.agentId, value: b.bytes })),
      );
    } catch (err) {
      this.failed(err);
      return;
    }
    await this.spool.removeHead(head.length);
    this.acknowledged(head.map((b) => ({ ...runOf(b.bytes), rowCount: b.rowCount })));
    if (this.spool.count === 0) this.log('spool replayed; the bus is back');
  }

  private async toSpool(entries: Outgoing[]): Promise<void> {
    if (entries.length === 0) return;
    this.outboxBytes = this.outbox.reduce((s, o) => s + o.size, 0);
    const batches: SpooledBatch[] = [];
    for (const e of entries)
      batches.push({ sequence: e.sequence, rowCount: e.rowCount, bytes: await e.bytes });
    try {
      const dropped = await this.spool.append(batches);
      if (dropped.batches > 0) {
        this.metrics.spoolDropped.inc(dropped.batches);
        this.metrics.lost.inc({ stage: 'spool_full' }, dropped.rows);
        this.log(
          `spool full: dropped the oldest ${dropped.batches} batches (${dropped.rows} rows)`,
        );
      }
    } catch (err) {
      const rows = batches.reduce((s, b) => s + b.rowCount, 0);
      this.metrics.lost.inc({ stage: 'spool_write' }, rows);
      this.log(
        `spool: could not write ${batches.length} batches (${rows} rows lost): ${(err as Error).message}`,
      );
    }
    this.updateGauges();
  }

  private failed(err: unknown): void {
    this.metrics.publishErrors.inc();
    const min = this.options.retryMinMs ?? 250;
    const max = this.options.retryMaxMs ?? 5000;
    if (this.retryMs === 0) this.log(`bus unavailable, spooling: ${(err as Error).message}`);
    this.retryMs = this.retryMs === 0 ? min : Math.min(max, this.retryMs * 2);
    this.retryAt = Date.now() + this.retryMs;
  }

  private acknowledged(batches: Array<{ jobId: string; runId: string; rowCount: number }>): void {
    this.retryMs = 0;
    this.retryAt = 0;
    this.metrics.batches.inc(batches.length);
    this.metrics.published.inc(batches.reduce((s, b) => s + b.rowCount, 0));
    this.updateGauges();
    const onAcknowledged = this.options.onAcknowledged;
    if (!onAcknowledged) return;
    const perRun = new Map<string, { jobId: string; runId: string; rows: number }>();
    for (const b of batches) {
      if (!b.runId || b.rowCount === 0) continue;
      const r = perRun.get(b.runId) ?? { jobId: b.jobId, runId: b.runId, rows: 0 };
      r.rows += b.rowCount;
      perRun.set(b.runId, r);
    }
    for (const r of perRun.values()) onAcknowledged(r.jobId, r.runId, r.rows);
  }

  private maxMemoryBytes(): number {
    return this.options.maxMemoryBytes ?? 32 << 20;
  }

  private updateGauges(): void {
    this.metrics.spoolBatches.set(this.spool.count);
    this.metrics.spoolBytes.set(this.spool.bytes);
    this.metrics.pendingBatches.set(this.outbox.length);
  }

  private sleep(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private log(message: string): void {
    (this.options.log ?? ((m) => process.stderr.write(`publish: ${m}\n`)))(message);
  }
}

/** The job and run of a spooled envelope (its rows stay packed). */
function runOf(bytes: Buffer): { jobId: string; runId: string } {
  try {
    const b = EventBatch.decode(bytes);
    return { jobId: b.jobId, runId: b.runId };
  } catch {
    return { jobId: '', runId: '' };
  }
}
