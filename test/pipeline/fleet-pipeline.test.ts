// SPDX-License-Identifier: Apache-2.0
/**
 * Fleet mode end to end (issue 5, "What it must show"): the agent's proc
 * collector and publisher → a real Kafka 3.9 broker (KRaft) → `fleettrace
 * ingest` as a child process → the ClickHouse 18.16 server, and the same
 * into chDB. Each scenario runs 200 /bin/true as a uid of its own and must end with
 * exactly 200 exec rows (FINAL) and every batch the broker acknowledged
 * stored once in every table it feeds (checkDelivery), while the committed
 * offset never runs ahead of what is queryable and stands still while the
 * server is down. Faults, one broker and one server for all, in sequence:
 * the broker killed for 20 s, ingest killed at its failpoints, the
 * ClickHouse server stopped for 20 s.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { KafkaBus, packRows, rowLine, ROWS_ENCODING, TOPICS } from '@fleettrace/bus';
import { EventBatch } from '@fleettrace/proto';
import { Kafka, logLevel } from 'kafkajs';
import { ServerStore } from '@fleettrace/store';
import { ClickHouseServer, VIEWER } from '../harness/clickhouse-server';
import { IngestProcess, type IngestArgs } from '../harness/ingest-process';
import { KafkaBroker } from '../harness/kafka-broker';
import { sleep, waitFor } from '../harness/local-processes';
import { AgentSide, OffsetWatch, runScenario, TEST_UID, type Select } from './pipeline-rig';

const FAULT_MS = 20_000;

/** The built `fleettrace` command; resolves with stdout, rejects with stderr. */
function cli(args: string[]): Promise<string> {
  const main = resolve(__dirname, '../../../apps/cli/dist/src/main.js');
  return new Promise((resolve_, reject) =>
    execFile(process.execPath, [main, ...args], (err, stdout, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve_(stdout),
    ),
  );
}

let broker: KafkaBroker;

before(async () => {
  broker = await KafkaBroker.start();
});

after(async () => {
  await broker?.destroy();
});

/** Ingest replaced by one armed with a failpoint, then by a clean one once it died. */
function ingestKilledAt(
  failpoint: string,
  args: () => IngestArgs,
  current: { ingest?: IngestProcess },
) {
  return {
    arm: async () => {
      await current.ingest?.stop();
      current.ingest = await IngestProcess.start({ ...args(), failpoints: `${failpoint}@3` });
    },
    fault: async () => {
      const armed = current.ingest!;
      const exit = await Promise.race([armed.process.exited, sleep(60_000).then(() => undefined)]);
      if (!exit || exit.signal !== 'SIGKILL')
        throw new Error(
          `ingest did not die at ${failpoint}: ${JSON.stringify(exit)}\n${armed.process.log}`,
        );
      current.ingest = await IngestProcess.start(args());
    },
  };
}

describe('fleet: proc → Kafka → ingest → ClickHouse 18.16 server', { timeout: 600_000 }, () => {
  let server: ClickHouseServer;
  let store: ServerStore;
  let agent: AgentSide;
  let watch: OffsetWatch;
  const current: { ingest?: IngestProcess } = {};
  const args = (): IngestArgs => ({
    bus: 'kafka',
    brokers: broker.brokers,
    store: 'server',
    clickhouseUrl: server.url,
  });
  const select: Select = (sql) => store.select(sql);

  before(async () => {
    server = await ClickHouseServer.start();
    store = new ServerStore({ url: server.url });
    current.ingest = await IngestProcess.start(args());
    agent = new AgentSide(
      new KafkaBus({ brokers: broker.brokers, publishTimeoutMs: 5000, log: () => undefined }),
    );
    watch = new OffsetWatch(broker.brokers);
    await watch.start(select);
  });

  after(async () => {
    await watch?.stop();
    await agent?.close();
    await agent?.bus.close();
    await current.ingest?.stop();
    await store?.close();
    await server?.destroy();
  });

  test('200 execs, no fault: exactly 200 exec rows', () =>
    runScenario({ name: 'server-plain', agent, select, watch, sensitive: true }));

  test('Kafka broker killed for 20 s mid-run: spooled, replayed, exactly once; ingest unhealthy meanwhile', async () => {
    let healthDuringOutage = 0;
    await runScenario({
      name: 'server-kafka-down',
      sensitive: true,
      agent,
      select,
      watch,
      fault: async () => {
        await broker.kill();
        const until = Date.now() + FAULT_MS;
        // The bus is checked every 5 s with 3 s to answer: unhealthy within ~8 s.
        while (Date.now() < until && healthDuringOutage !== 503) {
          healthDuringOutage = (await fetch(`http://127.0.0.1:${current.ingest!.httpPort}/healthz`))
            .status;
          await sleep(500);
        }
        await sleep(Math.max(0, until - Date.now()));
        await broker.restart();
      },
    });
    assert.equal(healthDuringOutage, 503, 'ingest reported itself unhealthy while Kafka was down');
    await waitFor(
      'ingest healthy again',
      async () => (await fetch(`http://127.0.0.1:${current.ingest!.httpPort}/healthz`)).ok,
    );
  });

  for (const failpoint of ['before-insert', 'after-insert-before-commit', 'during-insert']) {
    test(`ingest killed at ${failpoint} and restarted: exactly once`, async () => {
      const f = ingestKilledAt(failpoint, args, current);
      await f.arm();
      await runScenario({
        name: `server-${failpoint}`,
        sensitive: true,
        agent,
        select,
        watch,
        fault: f.fault,
      });
    });
  }

  test('fleettrace query, top and crashes show what happened', async () => {
    const jobId = `cli-${Date.now()}`;
    agent.runner.assign({
      jobId,
      runId: `${jobId}-run`,
      collectors: [{ name: 'proc', params: {} }],
      filters: { uid: TEST_UID },
      startUnixMs: Date.now(),
      endUnixMs: Date.now() + 120_000,
      limits: { overheadBudget: 0, maxEventsPerSecond: 0 },
      weight: 1,
      intervalMs: 200,
    });
    await sleep(1500);
    const victim = spawn('/bin/sleep', ['60'], { uid: TEST_UID, gid: TEST_UID, stdio: 'ignore' });
    await sleep(300);
    victim.kill('SIGKILL');
    await once(victim, 'exit');
    await sleep(1000);
    agent.runner.cancel(jobId, 'done');
    await agent.publisher.flush();
    const target = [
      '--clickhouse-url',
      server.url,
      '--clickhouse-user',
      VIEWER.username,
      '--clickhouse-password',
      VIEWER.password,
    ];
    const crashes = await waitFor('the kill in fleettrace crashes', async () => {
      const out = await cli(['crashes', '--since', '10m', '--format', 'json', ...target]);
      const rows = JSON.parse(out) as Array<Record<string, unknown>>;
      return rows.find((r) => r.uid === TEST_UID && r.comm === 'sleep') ? rows : undefined;
    });
    assert.equal(
      crashes.find((r) => r.uid === TEST_UID && r.comm === 'sleep')!.signal_name,
      'SIGKILL',
    );
    const top = await cli(['top', '--by', 'comm', '--since', '10m', ...target]);
    assert.match(top, /^COMM +CPU_S +SYSCALLS/);
    const csv = await cli([
      'query',
      `SELECT count() AS execs FROM fleettrace.proc FINAL WHERE job_id = '${jobId}' AND event = 'exec'`,
      '--format',
      'csv',
      ...target,
    ]);
    assert.equal(csv, 'execs\n1\n');
    await assert.rejects(
      cli(['query', 'DROP TABLE fleettrace.proc', ...target]),
      /only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN/,
    );
  });

  test('ClickHouse server stopped for 20 s mid-run: ingest retries, exactly once', async () => {
    await runScenario({
      name: 'server-clickhouse-down',
      sensitive: true,
      agent,
      select,
      watch,
      fault: async () => {
        await server.stop();
        watch.storeDown();
        await sleep(FAULT_MS);
        watch.storeUp();
        await server.restart();
      },
    });
    await waitFor(
      'ingest healthy again',
      async () => (await fetch(`http://127.0.0.1:${current.ingest!.httpPort}/healthz`)).ok,
    );
  });
});

/** Reads the dead-letter topic from the start until `n` messages came. */
async function deadLetters(n: number): Promise<Array<{ reason: string; source: string }>> {
  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `dead-letter-reader-${Date.now()}` });
  const got: Array<{ reason: string; source: string }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic: TOPICS.deadLetter, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push({
        reason: String(message.headers?.['x-fleettrace-reason'] ?? ''),
        source: String(message.headers?.['x-fleettrace-source'] ?? ''),
      });
    },
  });
  try {
    await waitFor(`${n} dead letters`, () => got.length >= n, 30_000);
    return got;
  } finally {
    await consumer.disconnect();
  }
}

async function envelope(jobId: string, sequence: number, rows: object[]): Promise<Buffer> {
  return Buffer.from(
    EventBatch.encode({
      agentId: 'dead-letter-test-agent',
      host: 'h',
      sequence,
      jobId,
      runId: `${jobId}-run`,
      collector: 'proc',
      createdUnixMs: Date.now(),
      encoding: ROWS_ENCODING,
      rows: await packRows(rows.map(rowLine)),
      rowCount: rows.length,
      lost: 0,
      weight: 1,
    }).finish(),
  );
}

describe(
  'fleet: messages ingest cannot store go to the dead-letter topic',
  { timeout: 120_000 },
  () => {
    let server: ClickHouseServer;
    let store: ServerStore;
    let ingest: IngestProcess;

    before(async () => {
      server = await ClickHouseServer.start();
      store = new ServerStore({ url: server.url });
      ingest = await IngestProcess.start({
        bus: 'kafka',
        brokers: broker.brokers,
        store: 'server',
        clickhouseUrl: server.url,
      });
    });

    after(async () => {
      await ingest?.stop();
      await store?.close();
      await server?.destroy();
    });

    test('undecodable and refused batches are set aside with the reason; the partition goes on', async () => {
      const jobId = `dead-letters-${Date.now()}`;
      const row = (pid: unknown) => ({
        ts_ns: BigInt(Date.now()) * 1_000_000n,
        pid,
        tid: 1,
        uid: 1,
        user: 'u',
        comm: 'c',
        cgroup: '/',
        event: 'fork',
        child_pid: 2,
      });
      const bus = new KafkaBus({ brokers: broker.brokers, log: () => undefined });
      await bus.publish(TOPICS.events, [
        { key: 'x', value: Buffer.from('not a protobuf at all \xff\xff') },
        { key: 'x', value: await envelope(jobId, 1, [row(1), row(2)]) },
        {
          key: 'x',
          value: Buffer.from(
            EventBatch.encode({
              ...EventBatch.decode(await envelope(jobId, 2, [row(3)])),
              encoding: 'zstd-lines',
            }).finish(),
          ),
        },
        // pid is UInt32: the server refuses "not-a-number" as data
        { key: 'x', value: await envelope(jobId, 3, [row(4), row('not-a-number')]) },
        { key: 'x', value: await envelope(jobId, 4, [row(5)]) },
      ]);
      await bus.close();
      const letters = await deadLetters(3);
      assert.equal(letters.length, 3);
      assert.match(letters[0]!.reason, /not a fleettrace\.v1\.EventBatch|agent_id is empty/);
      assert.match(letters[1]!.reason, /unknown rows encoding "zstd-lines"/);
      assert.match(letters[2]!.reason, /fleettrace\.proc refused the rows/);
      const rows = await waitFor('the good batches to be stored', async () => {
        const r = await store.select<{ pid: number }>(
          `SELECT pid FROM fleettrace.proc FINAL WHERE job_id = '${jobId}' ORDER BY pid`,
        );
        return r.length >= 3 ? r : undefined;
      });
      assert.deepEqual(
        rows.map((r) => Number(r.pid)),
        [1, 2, 5],
      );
    });
  },
);

describe('fleet: proc → Kafka → ingest → chDB (embedded store)', { timeout: 600_000 }, () => {
  let agent: AgentSide;
  let watch: OffsetWatch;
  const dataDir = mkdtempSync(join(tmpdir(), 'fleettrace-chdb-'));
  const current: { ingest?: IngestProcess } = {};
  const args = (): IngestArgs => ({
    bus: 'kafka',
    brokers: broker.brokers,
    store: 'embedded',
    dataDir,
  });
  // chDB lives in the ingest process: queries go through its endpoint (viewer).
  const select: Select = async (sql) => {
    const r = await current.ingest!.query(sql);
    return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));
  };

  before(async () => {
    current.ingest = await IngestProcess.start(args());
    agent = new AgentSide(
      new KafkaBus({ brokers: broker.brokers, publishTimeoutMs: 5000, log: () => undefined }),
      `chdb-agent-${process.pid}`,
    );
    watch = new OffsetWatch(broker.brokers);
    await watch.start(select);
  });

  after(async () => {
    await watch?.stop();
    await agent?.close();
    await agent?.bus.close();
    await current.ingest?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('200 execs, no fault: exactly 200 exec rows', () =>
    runScenario({ name: 'chdb-plain', agent, select, watch }));

  test('Kafka broker killed for 20 s mid-run: spooled, replayed, exactly once', () =>
    runScenario({
      name: 'chdb-kafka-down',
      agent,
      select,
      watch,
      fault: async () => {
        await broker.kill();
        await sleep(FAULT_MS);
        await broker.restart();
      },
    }));

  for (const failpoint of ['before-insert', 'after-insert-before-commit', 'during-insert']) {
    test(`ingest killed at ${failpoint} and restarted: exactly once`, async () => {
      const f = ingestKilledAt(failpoint, args, current);
      await f.arm();
      await runScenario({ name: `chdb-${failpoint}`, agent, select, watch, fault: f.fault });
    });
  }
});
