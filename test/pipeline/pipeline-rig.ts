// SPDX-License-Identifier: Apache-2.0
/**
 * The agent side of the pipeline tests and one scenario: the real JobRunner
 * with the `proc` and `syscalls` collectors, filtered in the kernel to one
 * uid, feeding the real EventPublisher; N runs of /bin/true by that uid while
 * a fault happens; then exactly N exec rows must be queryable with FINAL, and
 * the store must hold every batch the bus acknowledged to the publisher
 * exactly as it was sent (checkDelivery): its row in fleettrace.batches and
 * all of its rows in every table it feeds, main and sensitive.
 *
 * On Kafka an OffsetWatch samples, while the scenario runs, the ingest
 * group's committed offset and checks that every batch before it is fully
 * queryable: ingest must never commit ahead of the store, and the offset
 * must not move while the store is down.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  batchIdOf,
  TOPICS,
  TABLES_ENCODING,
  unpackLines,
  unpackTables,
  type Bus,
  type BusMessage,
  type Subscription,
  type SubscribeOptions,
} from '@fleettrace/bus';
import { EventBatch, RunState, type JobStatus } from '@fleettrace/proto';
import { EventPublisher, JobRunner } from '@fleettrace/agent';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { sleep, waitFor } from '../harness/local-processes';

/**
 * The uid of the workload: one no account has and no other test file uses at
 * the same time (derived from this process's pid), so the job's kernel-side
 * uid filter sees this scenario's processes only.
 */

/** Exec rows in a batch, in either rows encoding. */
async function execsIn(b: EventBatch): Promise<number> {
  if (b.encoding === TABLES_ENCODING) {
    const main = (await unpackTables(b.rows)).find((s) => s.table === `fleettrace.${b.collector}`);
    if (!main) return 0;
    const at = 1 + main.columns.indexOf('event');
    return main.lines.filter((l) => l.toString().split('\t')[at] === 'exec').length;
  }
  const lines = await unpackLines(b.encoding, b.rows, b.rowCount);
  return lines.filter((l) => l.includes('"event":"exec"')).length;
}

export const TEST_UID = 61_000 + (process.pid % 4000);

/** Runs a SQL text that returns rows as objects (owner on a server, viewer through ingest for chDB). */
export type Select = (sql: string) => Promise<Array<Record<string, unknown>>>;

/** One batch the bus acknowledged to the publisher, as it was sent. */
export interface SentBatch {
  agentId: string;
  sequence: number;
  jobId: string;
  collector: string;
  rowCount: number;
  /** rows of proc's `exec` event: each also has a row in fleettrace_sensitive.proc_exec */
  execs: number;
  /** how many times the bus acknowledged it (a replay after a lost answer acknowledges it again) */
  acks: number;
  /** the encoded rows, to tell a replay from a different batch under the same sequence */
  rows: string;
}

/**
 * The publisher's bus, recording every events batch the real bus
 * acknowledged: the store must end up holding each of them once, whatever
 * failed in between. A sequence acknowledged twice with different contents
 * (the sequence store repeated a number) is kept as a conflict.
 */
export class AcknowledgingBus implements Bus {
  readonly sent = new Map<string, SentBatch>();
  readonly conflicts: string[] = [];

  constructor(readonly inner: Bus) {}

  get kind(): Bus['kind'] {
    return this.inner.kind;
  }

  async publish(topic: string, messages: BusMessage[]): Promise<void> {
    await this.inner.publish(topic, messages);
    if (topic !== TOPICS.events) return;
    for (const m of messages) {
      const b = EventBatch.decode(m.value);
      const rows = Buffer.from(b.rows).toString('base64');
      const key = `${b.agentId}/${b.sequence}`;
      const known = this.sent.get(key);
      if (known) {
        known.acks++;
        if (known.rows !== rows || known.jobId !== b.jobId || known.collector !== b.collector)
          this.conflicts.push(`sequence ${key} acknowledged for two different batches`);
        continue;
      }
      const execs = await execsIn(b);
      this.sent.set(key, {
        agentId: b.agentId,
        sequence: b.sequence,
        jobId: b.jobId,
        collector: b.collector,
        rowCount: b.rowCount,
        execs,
        acks: 1,
        rows,
      });
    }
  }

  subscribe(options: SubscribeOptions): Promise<Subscription> {
    return this.inner.subscribe(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The acknowledged batches of one job, by sequence. */
  ofJob(jobId: string): SentBatch[] {
    return [...this.sent.values()]
      .filter((b) => b.jobId === jobId)
      .sort((a, b) => a.sequence - b.sequence);
  }
}

/**
 * Compares what the store holds for `jobId` with what the bus acknowledged
 * (`sent`) and returns every difference (empty: delivered exactly once):
 * each acknowledged batch has its one row in fleettrace.batches with its row
 * count, exactly its rows (row_idx 0..n-1, none missing, none extra) in its
 * collector's table, and for proc its exec rows in
 * fleettrace_sensitive.proc_exec (when `sensitive`: the caller can read that
 * database); and the store holds no batch of the job nobody acknowledged.
 * FINAL collapses a batch stored twice, so the counts are per batch: a lost
 * batch, a partly stored one, or two batches sharing a sequence (one of them
 * collapsed away) all show.
 */
export async function checkDelivery(
  select: Select,
  jobId: string,
  sent: SentBatch[],
  options: { sensitive: boolean },
): Promise<string[]> {
  const problems: string[] = [];
  if (sent.length === 0) return [`no batch of ${jobId} was acknowledged: nothing was checked`];
  const agents = [...new Set(sent.map((b) => b.agentId))];
  const stored = await select(
    `SELECT agent_id AS a, toString(sequence) AS s, count() AS copies, any(row_count) AS row_count,
            any(collector) AS collector, toString(any(batch_id)) AS b
     FROM fleettrace.batches FINAL WHERE job_id = '${jobId}' GROUP BY agent_id, sequence`,
  );
  const storedBy = new Map(stored.map((r) => [`${String(r.a)}/${String(r.s)}`, r]));
  const perTable = async (table: string, where = '') => {
    const rows = await select(
      `SELECT toString(batch_id) AS b, count() AS n, uniqExact(row_idx) AS idx, max(row_idx) AS top
       FROM ${table} FINAL WHERE job_id = '${jobId}' ${where} GROUP BY batch_id`,
    );
    return new Map(rows.map((r) => [String(r.b), r]));
  };
  const collectors = [...new Set(sent.map((b) => b.collector))];
  const tables = new Map<string, Awaited<ReturnType<typeof perTable>>>();
  for (const c of collectors) tables.set(c, await perTable(`fleettrace.${c}`));
  const execTable =
    options.sensitive && collectors.includes('proc')
      ? await perTable('fleettrace_sensitive.proc_exec')
      : undefined;
  for (const b of sent) {
    const key = `${b.agentId}/${b.sequence}`;
    const id = batchIdOf(b.agentId, b.sequence).toString();
    const what = `batch ${key} (${b.collector}, ${b.rowCount} rows)`;
    const row = storedBy.get(key);
    if (!row) problems.push(`${what} acknowledged but missing from fleettrace.batches`);
    else if (Number(row.copies) !== 1 || Number(row.row_count) !== b.rowCount)
      problems.push(
        `${what}: fleettrace.batches has ${String(row.copies)} rows with row_count ${String(row.row_count)}`,
      );
    const got = tables.get(b.collector)!.get(id);
    const n = Number(got?.n ?? 0);
    if (n !== b.rowCount || (n > 0 && (Number(got!.idx) !== n || Number(got!.top) !== n - 1)))
      problems.push(
        `${what}: fleettrace.${b.collector} holds ${n} rows (distinct row_idx ${String(got?.idx ?? 0)})`,
      );
    if (execTable) {
      const e = Number(execTable.get(id)?.n ?? 0);
      if (e !== b.execs)
        problems.push(`${what}: fleettrace_sensitive.proc_exec holds ${e} of its ${b.execs} execs`);
    }
  }
  const known = new Set(sent.map((b) => `${b.agentId}/${b.sequence}`));
  for (const key of storedBy.keys())
    if (agents.some((a) => key.startsWith(`${a}/`)) && !known.has(key))
      problems.push(`batch ${key} is stored but was never acknowledged to the publisher`);
  return problems;
}

export class AgentSide {
  readonly statuses: JobStatus[] = [];
  readonly runner: JobRunner;
  readonly publisher: EventPublisher;
  readonly stateDir = mkdtempSync(join(tmpdir(), 'fleettrace-agent-state-'));
  /** what the bus acknowledged to the publisher */
  readonly acked: AcknowledgingBus;

  constructor(
    readonly bus: Bus,
    readonly agentId = `test-agent-${process.pid}`,
  ) {
    this.acked = new AcknowledgingBus(bus);
    this.publisher = new EventPublisher({
      agentId,
      host: 'pipeline-test-host',
      bus: this.acked,
      stateDir: this.stateDir,
      retryMaxMs: 1000,
      log: (m) => {
        if (process.env.FLEETTRACE_TEST_VERBOSE) process.stderr.write(`[publisher] ${m}\n`);
      },
    });
    this.runner = new JobRunner(
      { onStatus: (s) => this.statuses.push({ ...s }), onRows: (b) => this.publisher.publish(b) },
      {},
    );
  }

  async close(): Promise<void> {
    await this.runner.close();
    await this.publisher.close(2000);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export interface ScenarioOptions {
  name: string;
  agent: AgentSide;
  select: Select;
  /** started once half of the execs ran; the scenario waits for it */
  fault?: () => Promise<void>;
  execs?: number;
  /** the watch of committed offsets (Kafka only) */
  watch?: OffsetWatch;
  /** how long the rows may take to become queryable after the fault ended */
  settleMs?: number;
  /** whether `select` may read fleettrace_sensitive (the owner on a server; not the viewer of chDB) */
  sensitive?: boolean;
}

/** What a scenario found; `problems` empty means exactly once, nothing lost anywhere. */
export interface ScenarioReport {
  problems: string[];
  /** batches the bus acknowledged to the publisher for the scenario's job */
  batches: number;
  exec: number;
}

function execTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { uid: TEST_UID, gid: TEST_UID, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

/**
 * Runs one scenario and returns every way the store differs from what was
 * sent, without asserting: the broken-variant tests expect problems.
 */
export async function playScenario(o: ScenarioOptions): Promise<ScenarioReport> {
  const execs = o.execs ?? 200;
  const jobId = `pipeline-${o.name}-${Date.now()}`;
  const { agent } = o;
  const problems: string[] = [];
  const lostBefore = await lostCounters(agent.publisher);
  agent.runner.assign({
    jobId,
    runId: `${jobId}-run`,
    collectors: [
      { name: 'proc', params: {} },
      { name: 'syscalls', params: {} },
    ],
    filters: { uid: TEST_UID },
    startUnixMs: Date.now(),
    endUnixMs: Date.now() + 600_000,
    limits: { overheadBudget: 0, maxEventsPerSecond: 0 },
    weight: 1,
    intervalMs: 200,
  });
  await waitFor(
    `job ${jobId} to run`,
    () => {
      const s = agent.statuses.filter((x) => x.jobId === jobId).pop();
      if (s && s.state !== RunState.RUN_STATE_RUNNING && s.state !== RunState.RUN_STATE_PENDING)
        throw new Error(`job ended: ${s.reason}`);
      return s?.state === RunState.RUN_STATE_RUNNING;
    },
    30_000,
    50,
  );
  o.watch?.follow(jobId);
  // Paced so that several envelopes and ingest flushes happen before the fault.
  let fault: Promise<void> | undefined;
  for (let i = 0; i < execs; i++) {
    if (i === Math.floor(execs / 2) && o.fault) fault = o.fault();
    await execTrue();
    await sleep(25);
  }
  await sleep(1000);
  agent.runner.cancel(jobId, 'scenario done');
  const final = await waitFor(
    `job ${jobId} to end`,
    () =>
      agent.statuses
        .filter((x) => x.jobId === jobId && x.state === RunState.RUN_STATE_CANCELLED)
        .pop(),
    30_000,
    50,
  );
  await fault;
  await agent.publisher.flush();
  const counts = async () => {
    const [r] = await o.select(
      `SELECT countIf(event = 'exec') AS exec, countIf(event = 'exit') AS exit
       FROM fleettrace.proc FINAL WHERE job_id = '${jobId}' AND uid = ${TEST_UID}`,
    );
    return { exec: Number(r!.exec), exit: Number(r!.exit) };
  };
  const check = () =>
    checkDelivery(o.select, jobId, agent.acked.ofJob(jobId), { sensitive: o.sensitive ?? false });
  // Until the spool is replayed and every acknowledged batch is stored, or
  // the settle time ran out (then the last check's problems are the answer).
  await waitFor(
    `every batch of ${jobId} to be stored`,
    async () =>
      agent.publisher.spoolState().batches === 0 && (await check()).length === 0 ? true : undefined,
    o.settleMs ?? 120_000,
    500,
  ).catch(() => undefined);
  // Let anything still in flight (a replay, a redelivery) land, then look again.
  await sleep(1500);
  const settled = await waitFor('a count', () => counts().catch(() => undefined), 30_000, 500);
  problems.push(...(await waitFor('a delivery check', () => check().catch(() => undefined))));
  problems.push(...agent.acked.conflicts);
  const lostAfter = await lostCounters(agent.publisher);
  if (JSON.stringify(lostAfter) !== JSON.stringify(lostBefore))
    problems.push(
      `the publisher counted losses: ${JSON.stringify(lostBefore)} -> ${JSON.stringify(lostAfter)}`,
    );
  if (final.eventsLost !== 0) problems.push(`the collectors lost ${final.eventsLost} events`);
  if (settled.exec !== execs)
    problems.push(`${settled.exec} exec rows for ${execs} runs of /bin/true`);
  if (settled.exit !== execs)
    problems.push(`${settled.exit} exit rows for ${execs} runs of /bin/true`);
  if (o.watch) {
    const report = await o.watch.check(o.select);
    problems.push(...report.violations);
    if (report.samples === 0)
      problems.push('no committed offset was sampled while the scenario ran');
  }
  return { problems, batches: agent.acked.ofJob(jobId).length, exec: settled.exec };
}

/** Runs one scenario and asserts it found nothing wrong: loss 0, duplicates 0. */
export async function runScenario(o: ScenarioOptions): Promise<void> {
  const report = await playScenario(o);
  assert.deepEqual(report.problems, [], 'every acknowledged batch stored exactly once');
  assert.ok(report.batches > 0, 'batches were acknowledged, so the check had something to check');
}

async function lostCounters(p: EventPublisher): Promise<Record<string, number>> {
  const s = await p.metrics.snapshot();
  return Object.fromEntries(
    Object.entries(s).filter(([k]) => k.startsWith('fleettrace_agent_events_lost_total')),
  );
}

interface TapEntry {
  offset: bigint;
  batchId: string;
  jobId: string;
  collector: string;
  rowCount: number;
}

/**
 * Reads the events topic with a group of its own (the tap), and samples the
 * ingest group's committed offset every 300 ms: every batch of the followed
 * jobs before the committed offset must be queryable in full in its
 * collector's table at that moment. The committed offset is recorded even when that query fails (the
 * store is down by design): those are the samples that matter, since no
 * offset may be committed while the store cannot take inserts. The test
 * marks its outages (`storeDown`, `storeUp`); `check` reports an offset
 * that moved inside one.
 */
export class OffsetWatch {
  private readonly kafka: Kafka;
  private readonly tap: Consumer;
  private readonly entries: TapEntry[] = [];
  private readonly jobs = new Set<string>();
  private readonly verified = new Set<string>();
  private readonly violations: string[] = [];
  private samples = 0;
  /** every committed offset read, with when */
  private readonly timeline: Array<{ at: number; committed: bigint }> = [];
  private readonly outages: Array<{ from: number; to?: number }> = [];
  private timer?: NodeJS.Timeout;
  private sampling = false;
  private select?: Select;

  constructor(
    brokers: string[],
    private readonly groupId = 'fleettrace-ingest',
  ) {
    this.kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
    this.tap = this.kafka.consumer({
      groupId: `offset-watch-${process.pid}-${Date.now()}`,
      maxWaitTimeInMs: 100,
    });
  }

  async start(select: Select): Promise<void> {
    this.select = select;
    await this.tap.connect();
    await this.tap.subscribe({ topic: TOPICS.events, fromBeginning: true });
    await this.tap.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        const b = EventBatch.decode(message.value);
        this.entries.push({
          offset: BigInt(message.offset),
          batchId: batchIdOf(b.agentId, b.sequence).toString(),
          jobId: b.jobId,
          collector: b.collector,
          rowCount: b.rowCount,
        });
      },
    });
    this.timer = setInterval(() => void this.sample(), 300);
  }

  follow(jobId: string): void {
    this.jobs.add(jobId);
  }

  /** Call right after the store stopped: offsets must not move until `storeUp`. */
  storeDown(): void {
    this.outages.push({ from: Date.now() });
  }

  /** Call just before the store starts again. */
  storeUp(): void {
    const o = this.outages[this.outages.length - 1];
    if (o && o.to === undefined) o.to = Date.now();
  }

  /**
   * An insert acknowledged just before the store stopped may still be
   * committed just after: offsets read within this long of the stop are
   * the baseline, not a violation.
   */
  static readonly COMMIT_AFTER_STOP_MS = 1500;

  private outageViolations(): string[] {
    const out: string[] = [];
    for (const o of this.outages) {
      const to = o.to ?? Date.now();
      const settledAt = o.from + OffsetWatch.COMMIT_AFTER_STOP_MS;
      const before = this.timeline.filter((t) => t.at <= settledAt);
      const inside = this.timeline.filter((t) => t.at > settledAt && t.at < to);
      if (inside.length < 3) {
        out.push(`only ${inside.length} committed offsets sampled during a store outage`);
        continue;
      }
      const base = before.reduce((m, t) => (t.committed > m ? t.committed : m), -1n);
      const moved = inside.filter((t) => t.committed > base);
      if (moved.length > 0)
        out.push(
          `committed offset moved from ${base} to ${moved[moved.length - 1]!.committed} while the store was down`,
        );
    }
    return out;
  }

  private async committed(): Promise<bigint> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId: this.groupId, topics: [TOPICS.events] });
      const p = t?.partitions.find((x) => x.partition === 0);
      return BigInt(p?.offset ?? '-1');
    } finally {
      await admin.disconnect();
    }
  }

  private async sample(): Promise<void> {
    if (this.sampling || !this.select) return;
    this.sampling = true;
    try {
      let committed: bigint;
      try {
        committed = await this.committed();
      } catch {
        return; // the broker is down on purpose: no offset to read
      }
      this.timeline.push({ at: Date.now(), committed });
      if (committed <= 0n) return;
      const due = this.entries.filter(
        (e) => e.offset < committed && this.jobs.has(e.jobId) && !this.verified.has(e.batchId),
      );
      const seen = new Map<string, number>();
      for (const collector of new Set(due.map((e) => e.collector))) {
        const ids = due.filter((e) => e.collector === collector).map((e) => e.batchId);
        const rows = await this.select(
          `SELECT toString(batch_id) AS b, count() AS n FROM fleettrace.${collector} FINAL
           WHERE batch_id IN (${ids.join(', ')}) GROUP BY batch_id`,
        );
        for (const r of rows) seen.set(String(r.b), Number(r.n));
      }
      for (const e of due) {
        const n = seen.get(e.batchId) ?? 0;
        // Checked once: a batch committed ahead of the store is reported, not again at every sample.
        this.verified.add(e.batchId);
        if (n !== e.rowCount)
          this.violations.push(
            `offset ${e.offset} (batch ${e.batchId}, ${e.collector}, ${e.rowCount} rows) committed (next ${committed}) but ${n} rows queryable`,
          );
      }
      this.samples++;
    } catch {
      // the store or ingest is down on purpose: the offset is recorded, the rows are checked later
    } finally {
      this.sampling = false;
    }
  }

  /** Waits for one more sample after everything landed and returns what was seen. */
  async check(select: Select): Promise<{ samples: number; violations: string[] }> {
    this.select = select;
    const before = this.samples;
    await waitFor('another offset sample', () => this.samples > before, 30_000, 100);
    return {
      samples: this.samples,
      violations: [...this.violations, ...this.outageViolations()],
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.tap.disconnect().catch(() => undefined);
  }
}
