// SPDX-License-Identifier: Apache-2.0
/**
 * Fleet mode as the README starts it (issue 10): a Kafka 3.9 broker, the
 * ClickHouse 18.16 server, `fleettrace controller --clickhouse-url --brokers`,
 * `fleettrace ingest` and two real agents with no bus flags, all processes.
 * The agents must publish to the bus the controller names; a proc job on
 * both hosts sees a workload of a uid of its own run exactly N times, and
 * `fleettrace query` through the controller counts exactly N execs per host.
 * The controller's job and run changes reach fleettrace.jobs / job_runs, and
 * the query is in the audit log; top and crashes answer. Then an agent whose controller names no bus:
 * its rows are counted as lost with the reason, never "0 lost".
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  cli,
  startAgent,
  startController,
  startProcJob,
  stopCli,
  waitForQueryOutput,
  type StartedController,
} from '../harness/cli-process';
import { ClickHouseServer, ADMIN, VIEWER } from '../harness/clickhouse-server';
import { IngestProcess } from '../harness/ingest-process';
import { KafkaBroker } from '../harness/kafka-broker';
import { waitFor } from '../harness/local-processes';
import { execsAs, ftProgramsOf, waitForUnloaded } from '@fleettrace/testing';

const TEST_UID = 57_000 + (process.pid % 4000);
const EXECS = 20;
const PREFIX = `fs${process.pid}`;

/** A controller on a new data directory, heartbeats every 200 ms. */
function startFleetController(extra: string[], env: Record<string, string> = {}) {
  const data = mkdtempSync(join(tmpdir(), 'fleettrace-fleet-store-ctl-'));
  return startController(['--data', data, '--heartbeat', '200ms', ...extra], env);
}

/** A real agent enrolled under `hostname` (and its token's name), with no bus flags. */
function startHost(c: StartedController, hostname: string, extra: string[] = []) {
  return startAgent(c, ['--hostname', hostname, ...extra], { name: hostname });
}

/** Sends `signal` (again after `againAfterMs`, if given); the exit status, signal and the time to exit. */
async function timedStop(
  child: ChildProcess,
  againAfterMs?: number,
): Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }> {
  assert.equal(child.exitCode, null, 'still running before the signal');
  child.removeAllListeners('exit');
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const t0 = Date.now();
  child.kill('SIGTERM');
  const again =
    againAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), againAfterMs);
  const [code, signal] = await exited;
  clearTimeout(again);
  return { ms: Date.now() - t0, code, signal };
}

interface Run {
  host: string;
  state: string;
  reason: string;
  events_sent: number;
  events_acked: number;
  events_lost: number;
}

async function getJob(api: string, token: string, id: string): Promise<{ runs: Run[] }> {
  const r = await fetch(`${api}/api/v1/jobs/${id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(r.status, 200);
  return (await r.json()) as { runs: Run[] };
}

/** A proc job filtered to TEST_UID on `hosts`; its id once `runs` of its runs are running. */
function procJob(
  c: { env: Record<string, string> },
  hosts: string,
  runs: number,
  duration: string,
): Promise<string> {
  return startProcJob(c.env, { uid: TEST_UID, hosts, duration, runs });
}

/** EXECS exec events as TEST_UID. */
const workload = () => execsAs(TEST_UID, EXECS);

async function untilEnded(c: { api: string; admin: string }, id: string): Promise<Run[]> {
  return waitFor(
    `the runs of ${id} ended`,
    async () => {
      const job = await getJob(c.api, c.admin, id);
      const runs = job.runs ?? [];
      return runs.length && runs.every((x) => x.state !== 'running' && x.state !== 'pending')
        ? runs
        : undefined;
    },
    60_000,
    200,
  );
}

describe(
  'fleet: controller with --clickhouse-url and --brokers, agents on its bus',
  {
    timeout: 600_000,
  },
  () => {
    let broker: KafkaBroker;
    let server: ClickHouseServer;
    let ingest: IngestProcess | undefined;
    const children: ChildProcess[] = [];

    before(async () => {
      broker = await KafkaBroker.start();
      server = await ClickHouseServer.start();
      ingest = await IngestProcess.start({
        bus: 'kafka',
        brokers: broker.brokers,
        store: 'server',
        clickhouseUrl: server.url,
      });
    });
    after(async () => {
      for (const c of children.reverse()) await stopCli(c);
      await ingest?.stop();
      await server?.destroy();
      await broker?.destroy();
    });

    test('bad flags are refused, naming the flag', () => {
      for (const [args, message] of [
        [['--clickhouse-url', 'ftp://x'], /--clickhouse-url: expected http: or https:/],
        [['--clickhouse-admin-user', 'x'], /--clickhouse-admin-user: needs --clickhouse-url/],
        [['--clickhouse-owner-user', 'x'], /--clickhouse-owner-user: needs --clickhouse-url/],
        [
          ['--clickhouse-url', 'http://127.0.0.1:9', '--clickhouse-owner-user', 'a b'],
          /--clickhouse-owner-user: not a ClickHouse user name/,
        ],
        [['--brokers', 'nohost'], /--brokers: expected host:port, got "nohost"/],
        [['--kafka-tls'], /--kafka-tls: needs --brokers/],
        [
          ['--brokers', '127.0.0.1:9', '--kafka-sasl-mechanism', 'gssapi'],
          /--kafka-sasl-mechanism: expected plain, scram-sha-256, scram-sha-512/,
        ],
        [
          ['--brokers', '127.0.0.1:9', '--kafka-sasl-mechanism', 'plain', '--kafka-sasl-user', 'u'],
          /--kafka-sasl-password-file: needed with --kafka-sasl-mechanism/,
        ],
      ] as Array<[string[], RegExp]>) {
        const r = cli(['controller', '--data', mkdtempSync(join(tmpdir(), 'ft-bad-')), ...args]);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      assert.match(cli(['controller', '--help']).stdout, /--clickhouse-url URL[\s\S]*--brokers/);
    });

    test('two agents with no bus flags: exact per-host rows through the controller, jobs and runs in ClickHouse, the query audited', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fleettrace-fleet-store-'));
      const viewerFile = join(dir, 'viewer-password');
      writeFileSync(viewerFile, VIEWER.password + '\n', { mode: 0o600 });
      const c = await startFleetController(
        [
          '--clickhouse-url',
          server.url,
          '--clickhouse-viewer-password-file',
          viewerFile,
          '--brokers',
          broker.brokers.join(','),
        ],
        { FLEETTRACE_CLICKHOUSE_ADMIN_PASSWORD: ADMIN.password },
      );
      children.push(c.child);
      children.push((await startHost(c, `${PREFIX}-a`)).child);
      children.push((await startHost(c, `${PREFIX}-b`)).child);

      const id = await procJob(c, `${PREFIX}-*`, 2, '15s');
      await workload();
      const runs = await untilEnded(c, id);
      for (const run of runs) {
        assert.equal(run.state, 'finished', JSON.stringify(run));
        assert.equal(run.events_lost, 0, JSON.stringify(run));
        assert.ok(run.events_sent >= 2 * EXECS, JSON.stringify(run));
      }

      const sql =
        `SELECT host, countIf(event = 'exec') AS execs FROM fleettrace.proc FINAL ` +
        `WHERE job_id = '${id}' AND uid = ${TEST_UID} GROUP BY host ORDER BY host`;
      const expected = `host,execs\n${PREFIX}-a,${EXECS}\n${PREFIX}-b,${EXECS}\n`;
      await waitForQueryOutput(c.env, sql, expected);

      // Three figures per run, equal once everything landed: sent, acknowledged by Kafka, stored.
      type Stored = {
        runs: Array<{
          host: string;
          events_sent: number;
          events_acked: number;
          rows_stored: number;
        }>;
      };
      let figures: Stored | undefined;
      await waitFor(
        'sent = acked = stored for both runs',
        async () => {
          const r = await fetch(`${c.api}/api/v1/jobs/${id}/stored`, {
            headers: { authorization: `Bearer ${c.admin}` },
          });
          assert.equal(r.status, 200);
          figures = (await r.json()) as Stored;
          return (
            (figures.runs.length === 2 &&
              figures.runs.every(
                (x) =>
                  x.events_sent > 0 &&
                  x.events_acked === x.events_sent &&
                  x.rows_stored === x.events_sent,
              )) ||
            undefined
          );
        },
        30_000,
        500,
      ).catch(() => assert.fail(`figures: ${JSON.stringify(figures)}`));
      const show = cli(['job', 'show', id], c.env);
      assert.equal(show.status, 0, show.stderr);
      assert.match(show.stdout, /HOST\s+STATE\s+SENT\s+ACKED\s+STORED\s+LOST/);
      for (const run of figures?.runs ?? [])
        assert.match(
          show.stdout,
          new RegExp(
            `${run.host}\\s+finished\\s+${run.events_sent}\\s+${run.events_sent}\\s+${run.events_sent}\\s+0\\s`,
          ),
        );
      assert.doesNotMatch(show.stdout, /not acknowledged|not stored|STORED unknown/);

      // The canned views answer through the same store (no 503).
      for (const view of [['top', '--by', 'host'], ['crashes']]) {
        const r = cli([...view, '--since', '1h', '--json'], c.env);
        assert.equal(r.status, 0, `${view[0]}: ${r.stderr}`);
        assert.ok(Array.isArray(JSON.parse(r.stdout)), r.stdout);
      }

      // The controller's changes, through Kafka and ingest, as the passwordless owner sees them.
      const owner = async (query: string) => {
        const r = await fetch(`${server.url}/?query=${encodeURIComponent(query)}`);
        assert.equal(r.status, 200);
        return (await r.text()).trim();
      };
      await waitFor(
        'the job in fleettrace.jobs',
        async () =>
          (await owner(`SELECT state FROM fleettrace.jobs FINAL WHERE job_id = '${id}'`)) ===
            'finished' || undefined,
        60_000,
        500,
      ).catch(async () =>
        assert.equal(
          await owner(`SELECT state FROM fleettrace.jobs FINAL WHERE job_id = '${id}'`),
          'finished',
        ),
      );
      const runsSql =
        `SELECT host, state, events_lost FROM fleettrace.job_runs FINAL ` +
        `WHERE job_id = '${id}' ORDER BY host FORMAT TSV`;
      const runsExpected = `${PREFIX}-a\tfinished\t0\n${PREFIX}-b\tfinished\t0`;
      await waitFor(
        'the runs in fleettrace.job_runs',
        async () => (await owner(runsSql)) === runsExpected || undefined,
        60_000,
        500,
      ).catch(async () => assert.equal(await owner(runsSql), runsExpected));
      const agents = await owner(
        `SELECT count() FROM fleettrace.agents FINAL WHERE host LIKE '${PREFIX}-%'`,
      );
      assert.equal(agents, '2');

      const audit = await fetch(`${c.api}/api/v1/audit?action=query`, {
        headers: { authorization: `Bearer ${c.admin}` },
      });
      assert.equal(audit.status, 200);
      const entries = ((await audit.json()) as { entries: Array<{ details: { sql?: string } }> })
        .entries;
      assert.ok(
        entries.some((e) => e.details?.sql === sql),
        `no audit entry for the query: ${JSON.stringify(entries.slice(0, 3))}`,
      );
    });

    test('an agent whose controller names no bus counts its rows as lost, with the reason', async () => {
      const c = await startFleetController([]);
      children.push(c.child);
      children.push((await startHost(c, `${PREFIX}-nobus`)).child);
      const id = await procJob(c, `${PREFIX}-nobus`, 1, '5s');
      await workload();
      const [run] = await untilEnded(c, id);
      assert.ok(run);
      assert.equal(run.events_sent, 0, JSON.stringify(run));
      assert.ok(run.events_lost >= 2 * EXECS, JSON.stringify(run));
      assert.match(run.reason, /^no event bus: /);
      assert.equal(run.events_acked, 0, JSON.stringify(run));
      const show = cli(['job', 'show', id], c.env);
      assert.equal(show.status, 0, show.stderr);
      assert.doesNotMatch(show.stdout, /\b0 lost\b/);
      // This controller has no store: STORED is unknown, and said to be, never 0.
      assert.match(show.stdout, /STORED unknown: the controller has no event store/);
    });

    // Last: it stops the suite's ingest.
    test('SIGTERM stops agent, controller and ingest within 5 s with Kafka connected; a hung broker cannot hold the agent; a second signal forces', async (t) => {
      const c = await startFleetController(['--brokers', broker.brokers.join(',')]);
      children.push(c.child);
      const metricsArgs = ['--metrics', '127.0.0.1:0'];
      const a = await startHost(c, `${PREFIX}-stop-a`, metricsArgs);
      const b = await startHost(c, `${PREFIX}-stop-b`, metricsArgs);
      const d = await startHost(c, `${PREFIX}-stop-c`, metricsArgs);
      children.push(a.child, b.child, d.child);
      const id = await procJob(c, `${PREFIX}-stop-*`, 3, '120s');
      await workload();

      // /healthz on the agent's metrics port: ok for anyone, the reasons with the token.
      const port = Number(
        await waitFor(
          'the metrics address',
          () => /\/metrics on [\d.]+:(\d+)/.exec(a.stderr())?.[1],
          10_000,
          50,
        ),
      );
      const token = readFileSync(join(a.state, 'metrics-token'), 'utf8').trim();
      const health = await waitFor(
        "agent a's /healthz ok (its bus answers)",
        async () => {
          const r = await fetch(`http://127.0.0.1:${port}/healthz`, {
            headers: { authorization: `Bearer ${token}` },
          });
          const body = (await r.json()) as { ok: boolean; controller: string; bus: string };
          return r.status === 200 && body.ok ? body : undefined;
        },
        30_000,
        200,
      );
      assert.equal(health.controller, 'connected');
      assert.equal(health.bus, 'ok');
      const anonymous = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(await anonymous.text(), 'ok\n', 'no details without the token');
      const metrics = await (
        await fetch(`http://127.0.0.1:${port}/metrics`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).text();
      assert.match(metrics, /fleettrace_agent_bus_state\{state="ok"\} 1/);
      assert.match(metrics, /fleettrace_agent_controller_connected 1/);
      assert.match(metrics, new RegExp(`fleettrace_agent_run_overhead_share\\{job_id="${id}"`));
      assert.match(metrics, /fleettrace_agent_spool_bytes \d/);

      // 1. Kafka connected, a job running: the agent detaches everything and exits 0 in time.
      const programs = ftProgramsOf([a.child.pid as number]);
      assert.ok(programs.length > 0, 'the proc job holds BPF programs');
      const stopA = await timedStop(a.child);
      assert.equal(stopA.code, 0, a.stderr().slice(-2000));
      assert.ok(stopA.ms < 5000, `agent stopped in ${stopA.ms} ms`);
      assert.deepEqual(await waitForUnloaded(programs), [], 'no program left loaded');

      // 2. The broker hangs (SIGSTOP) while rows are in flight: still out within 5 s, rows spooled.
      const times: Record<string, number> = { agent: stopA.ms };
      broker.pause();
      try {
        await workload();
        await new Promise((r) => setTimeout(r, 1500)); // the publisher cuts its batch after 1 s
        const stopB = await timedStop(b.child);
        times['agent, hung broker'] = stopB.ms;
        assert.ok(stopB.ms < 5000, `agent with a hung broker stopped in ${stopB.ms} ms`);
        assert.ok(
          readdirSync(join(b.state, 'spool')).length > 0,
          `the unacknowledged rows are in the spool: ${b.stderr().slice(-1500)}`,
        );
        // 3. A second SIGTERM 300 ms after the first ends the agent at once, saying so.
        await workload();
        await new Promise((r) => setTimeout(r, 1500));
        const stopC = await timedStop(d.child, 300);
        times['agent, second signal'] = stopC.ms;
        assert.equal(stopC.code, 1, d.stderr().slice(-1500));
        assert.ok(stopC.ms < 1500, `forced out ${stopC.ms} ms after the first signal`);
        assert.match(d.stderr(), /second SIGTERM while /);
      } finally {
        broker.resume();
      }

      // 4. The controller (its control events on Kafka) and ingest (consuming) exit 0 in time.
      const stopCtl = await timedStop(c.child);
      assert.equal(stopCtl.code, 0);
      assert.ok(stopCtl.ms < 5000, `controller stopped in ${stopCtl.ms} ms`);
      assert.ok(ingest?.running);
      const t0 = Date.now();
      await ingest?.stop();
      const ingestMs = Date.now() - t0;
      const exit = await ingest?.process.exited;
      assert.equal(exit?.code, 0, ingest?.process.log.slice(-2000));
      assert.ok(ingestMs < 5000, `ingest stopped in ${ingestMs} ms`);
      t.diagnostic(
        `stop times (ms): ${JSON.stringify({ ...times, controller: stopCtl.ms, ingest: ingestMs })}`,
      );
      ingest = undefined;
    });
  },
);
