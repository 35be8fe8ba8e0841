// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace dev-fleet --agents 2 --json` as a user runs it: once it prints
 * its JSON, two agents (dev-1, dev-2) are connected to its controller; a proc
 * job filtered to a uid of this test's own sees a workload run exactly N
 * times, and `fleettrace query` through the controller counts exactly N execs
 * per host (the rows went agent -> Kafka -> ingest -> ClickHouse). Then
 * SIGINT, with a job still running: dev-fleet exits 0 within its deadline,
 * and no process it started, no port it listened on, no BPF program its
 * agents held and not its data directory is left.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execsAs, ftProgramsOf, processTree, waitForUnloaded } from '@fleettrace/testing';
import { cli, startCli, startProcJob, waitForQueryOutput } from '../harness/cli-process';
import { waitFor } from '../harness/local-processes';

const TEST_UID = 53_000 + (process.pid % 4000);
const EXECS = 20;
/** What dev-fleet promises for a stop (its --help): the stages' graces and a margin. */
const STOP_DEADLINE_MS = 27_000;

interface Fleet {
  ready_ms: number;
  pid: number;
  reaper_pid: number;
  data: string;
  server: string;
  token: string;
  kafka: { pid: number };
  clickhouse: { pid: number };
  ingest: { pid: number };
  controller: { pid: number };
  agents: Array<{ hostname: string; pid: number }>;
  ports: number[];
}

/** A process's start time (field 22 of /proc/PID/stat): a pid reused later has another one. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Loopback TCP ports in LISTEN state (/proc/net/tcp and tcp6, state 0A). */
function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A') ports.add(parseInt(f[1]?.split(':')[1] ?? '', 16));
    }
  }
  return ports;
}

interface Run {
  host: string;
  state: string;
  events_lost: number;
}

async function runsOf(env: Record<string, string>, id: string): Promise<Run[]> {
  const r = await fetch(`${env.FLEETTRACE_SERVER}/api/v1/jobs/${id}`, {
    headers: { authorization: `Bearer ${env.FLEETTRACE_TOKEN}` },
  });
  assert.equal(r.status, 200);
  return ((await r.json()) as { runs?: Run[] }).runs ?? [];
}

/** A proc job for TEST_UID on dev-*; its id once both runs are running. */
function procJob(env: Record<string, string>, duration: string): Promise<string> {
  return startProcJob(env, { uid: TEST_UID, hosts: 'dev-*', duration, runs: 2 });
}

describe('fleettrace dev-fleet', { timeout: 300_000 }, () => {
  let fleet: ChildProcess | undefined;
  after(() => {
    // A failed test must not leave the fleet running: SIGTERM stops it in order.
    if (fleet && fleet.exitCode === null) fleet.kill('SIGTERM');
  });

  test('bad flags are refused, naming the flag (exit 2)', () => {
    const full = mkdtempSync(join(tmpdir(), 'ft-dev-fleet-full-'));
    writeFileSync(join(full, 'x'), '');
    for (const [args, message] of [
      [['--agents', '0'], /--agents: must be between 1 and 8, got 0/],
      [['--agents', 'two'], /--agents: must be an integer, got "two"/],
      [['--data', full], /--data: .* is not empty/],
      [['extra'], /dev-fleet takes no arguments/],
    ] as Array<[string[], RegExp]>) {
      const r = cli(['dev-fleet', ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const help = cli(['dev-fleet', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--agents N[\s\S]*--data DIR[\s\S]*--keep[\s\S]*--json/);
    assert.match(cli(['--help']).stdout, /dev-fleet/);
  });

  test('start, enroll, run a job, find its rows; Ctrl-C leaves no process, port or BPF program', async (t) => {
    const data = join(mkdtempSync(join(tmpdir(), 'ft-dev-fleet-')), 'fleet');
    const t0 = Date.now();
    const started = await startCli(
      ['dev-fleet', '--agents', '2', '--json', '--data', data],
      /\n\}\n$/,
    );
    const readyMs = Date.now() - t0;
    fleet = started.child;
    const f = JSON.parse(started.stdout) as Fleet;
    assert.equal(f.pid, fleet.pid);
    assert.equal(f.data, data);
    const env = { FLEETTRACE_SERVER: f.server, FLEETTRACE_TOKEN: f.token };

    // Every process it started, and their start times (to tell a reused pid).
    const tree = processTree(fleet.pid as number).filter((p) => p !== fleet?.pid);
    const named = [
      f.reaper_pid,
      f.kafka.pid,
      f.clickhouse.pid,
      f.ingest.pid,
      f.controller.pid,
      ...f.agents.map((a) => a.pid),
    ];
    for (const pid of named) assert.ok(tree.includes(pid), `pid ${pid} is below dev-fleet`);
    const started_ = new Map(tree.map((p) => [p, startTime(p)]));
    const listening = listeningPorts();
    for (const port of f.ports) assert.ok(listening.has(port), `port ${port} listens`);

    const hosts = cli(['hosts', '--json'], env);
    assert.equal(hosts.status, 0, hosts.stderr);
    assert.deepEqual(
      (JSON.parse(hosts.stdout) as Array<{ hostname: string; state: string }>)
        .map((h) => `${h.hostname} ${h.state}`)
        .sort(),
      ['dev-1 connected', 'dev-2 connected'],
    );

    const id = await procJob(env, '10s');
    await execsAs(TEST_UID, EXECS);
    const runs = await waitFor(
      `the runs of ${id} ended`,
      async () => {
        const r = await runsOf(env, id);
        return r.length === 2 && r.every((x) => x.state !== 'running' && x.state !== 'pending')
          ? r
          : undefined;
      },
      60_000,
      200,
    );
    for (const run of runs) {
      assert.equal(run.state, 'finished', JSON.stringify(run));
      assert.equal(run.events_lost, 0, JSON.stringify(run));
    }
    const sql =
      `SELECT host, countIf(event = 'exec') AS execs FROM fleettrace.proc FINAL ` +
      `WHERE job_id = '${id}' AND uid = ${TEST_UID} GROUP BY host ORDER BY host`;
    const expected = `host,execs\ndev-1,${EXECS}\ndev-2,${EXECS}\n`;
    await waitForQueryOutput(env, sql, expected);

    // A job still running at Ctrl-C: the agents hold BPF programs then.
    await procJob(env, '120s');
    const programs = ftProgramsOf(f.agents.map((a) => a.pid));
    assert.ok(programs.length > 0, 'the running job holds BPF programs');

    // startCli's listener rejects on exit; the exit is expected now.
    fleet.removeAllListeners('exit');
    const exited = once(fleet, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const t1 = Date.now();
    fleet.kill('SIGINT');
    const [code, signal] = await exited;
    const stopMs = Date.now() - t1;
    assert.equal(signal, null, started.stderr().slice(-3000));
    assert.equal(code, 0, started.stderr().slice(-3000));
    assert.ok(stopMs < STOP_DEADLINE_MS, `stopped in ${stopMs} ms`);
    assert.match(started.stderr(), /stopped in [\d.]+ s/);
    assert.doesNotMatch(started.stderr(), /did not stop in time/, 'every part stopped on SIGTERM');

    // The reaper has nothing left to do and exits once dev-fleet's pipe closes.
    const left = await waitFor(
      'every process dev-fleet started to be gone',
      () => {
        const alive = [...started_].filter(([p, st]) => st !== undefined && startTime(p) === st);
        return alive.length === 0 ? [] : undefined;
      },
      3000,
      50,
    ).catch(() =>
      [...started_].filter(([p, st]) => st !== undefined && startTime(p) === st).map(([p]) => p),
    );
    assert.deepEqual(left, [], 'no process of its tree is left');
    const stillListening = f.ports.filter((p) => listeningPorts().has(p));
    assert.deepEqual(stillListening, [], 'none of its ports listens');
    assert.deepEqual(await waitForUnloaded(programs), [], 'no BPF program left loaded');
    assert.ok(!existsSync(data), 'the data directory is removed (no --keep)');
    t.diagnostic(
      `ready in ${readyMs} ms (dev-fleet says ${f.ready_ms} ms); stopped in ${stopMs} ms; ` +
        `${tree.length} processes, ${f.ports.length} ports, ${programs.length} BPF programs`,
    );
  });
});
