// SPDX-License-Identifier: Apache-2.0
/**
 * The agent side of the pipeline tests and one scenario: the real JobRunner
 * with the `proc` collector, filtered in the kernel to one uid, feeding the
 * real EventPublisher; N runs of /bin/true by that uid while a fault
 * happens; then exactly N exec rows must be queryable with FINAL, no row
 * twice, nothing lost at any stage.
 *
 * On Kafka an OffsetWatch samples, while the scenario runs, the ingest
 * group's committed offset and checks that every batch before it is fully
 * queryable: ingest must never commit ahead of the store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchIdOf, TOPICS, type Bus } from '@fleettrace/bus';
import { EventBatch, RunState, type JobStatus } from '@fleettrace/proto';
import { JobRunner } from '@fleettrace/agent/dist/src/jobs/job-runner';
import { EventPublisher } from '@fleettrace/agent/dist/src/publish/event-publisher';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { sleep, waitFor } from '../harness/local-processes';

/**
 * The uid of the workload: one no account has and no other test file uses at
 * the same time (derived from this process's pid), so the job's kernel-side
 * uid filter sees this scenario's processes only.
 */
export const TEST_UID = 61_000 + (process.pid % 4000);

/** Runs a SQL text that returns rows as objects (owner on a server, viewer through ingest for chDB). */
export type Select = (sql: string) => Promise<Array<Record<string, unknown>>>;

export class AgentSide {
  readonly statuses: JobStatus[] = [];
  readonly runner: JobRunner;
  readonly publisher: EventPublisher;
  readonly stateDir = mkdtempSync(join(tmpdir(), 'fleettrace-agent-state-'));

  constructor(
    readonly bus: Bus,
    agentId = `test-agent-${process.pid}`,
  ) {
    this.publisher = new EventPublisher({
      agentId,
      host: 'pipeline-test-host',
      bus,
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
}

function execTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { uid: TEST_UID, gid: TEST_UID, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

/** Runs one scenario and asserts loss 0 and duplicates 0. */
export async function runScenario(o: ScenarioOptions): Promise<void> {
  const execs = o.execs ?? 200;
  const jobId = `pipeline-${o.name}-${Date.now()}`;
  const { agent } = o;
  const lostBefore = await lostCounters(agent.publisher);
  agent.runner.assign({
    jobId,
    runId: `${jobId}-run`,
    collectors: [{ name: 'proc', params: {} }],
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
      `SELECT countIf(event = 'exec') AS exec, countIf(event = 'exit') AS exit, count() AS rows,
              uniqExact(batch_id, row_idx) AS distinct_rows
       FROM fleettrace.proc FINAL WHERE job_id = '${jobId}' AND uid = ${TEST_UID}`,
    );
    return {
      exec: Number(r!.exec),
      exit: Number(r!.exit),
      rows: Number(r!.rows),
      distinct: Number(r!.distinct_rows),
    };
  };
  const got = await waitFor(
    `${execs} exec rows of ${jobId} to be queryable`,
    async () => {
      const c = await counts().catch(() => undefined);
      return c && c.exec >= execs ? c : undefined;
    },
    o.settleMs ?? 120_000,
    500,
  );
  // Let anything still in flight (a replay, a redelivery) land, then count again.
  await sleep(1500);
  const settled = await waitFor('a count', () => counts().catch(() => undefined), 30_000, 500);
  const lostAfter = await lostCounters(agent.publisher);
  assert.deepEqual(lostAfter, lostBefore, 'the publisher lost nothing');
  assert.equal(final.eventsLost, 0, 'the collector lost nothing');
  assert.equal(got.exec, execs, 'exactly one exec row per run of /bin/true');
  assert.equal(settled.exec, execs, 'still exactly one exec row per run after everything landed');
  assert.equal(settled.exit, execs, 'exactly one exit row per run');
  assert.equal(settled.rows, settled.distinct, 'no duplicates after FINAL');
  if (o.watch) {
    const report = await o.watch.check(o.select);
    assert.deepEqual(report.violations, [], 'committed offsets never ran ahead of queryable rows');
    assert.ok(report.samples > 0, 'offsets were sampled while the scenario ran');
  }
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
 * ingest group's committed offset: every proc batch of the followed jobs
 * before the committed offset must be queryable in full at that moment.
 * Samples are taken every 300 ms; a sample whose query fails (the store or
 * ingest is down by design) is skipped, not counted.
 */
export class OffsetWatch {
  private readonly kafka: Kafka;
  private readonly tap: Consumer;
  private readonly entries: TapEntry[] = [];
  private readonly jobs = new Set<string>();
  private readonly verified = new Set<string>();
  private readonly violations: string[] = [];
  private samples = 0;
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
      const committed = await this.committed();
      if (committed <= 0n) return;
      const due = this.entries.filter(
        (e) =>
          e.offset < committed &&
          e.collector === 'proc' &&
          this.jobs.has(e.jobId) &&
          !this.verified.has(e.batchId),
      );
      if (due.length === 0) {
        this.samples++;
        return;
      }
      const rows = await this.select(
        `SELECT toString(batch_id) AS b, count() AS n FROM fleettrace.proc FINAL
         WHERE batch_id IN (${due.map((e) => e.batchId).join(', ')}) GROUP BY batch_id`,
      );
      const seen = new Map(rows.map((r) => [String(r.b), Number(r.n)]));
      for (const e of due) {
        const n = seen.get(e.batchId) ?? 0;
        if (n === e.rowCount) this.verified.add(e.batchId);
        else
          this.violations.push(
            `offset ${e.offset} (batch ${e.batchId}, ${e.rowCount} rows) committed (next ${committed}) but ${n} rows queryable`,
          );
      }
      this.samples++;
    } catch {
      // broker, store or ingest down on purpose: no sample
    } finally {
      this.sampling = false;
    }
  }

  /** Waits for one more sample after everything landed and returns what was seen. */
  async check(select: Select): Promise<{ samples: number; violations: string[] }> {
    this.select = select;
    const before = this.samples;
    await waitFor('another offset sample', () => this.samples > before, 30_000, 100);
    return { samples: this.samples, violations: [...this.violations] };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.tap.disconnect().catch(() => undefined);
  }
}
