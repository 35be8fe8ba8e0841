// SPDX-License-Identifier: Apache-2.0
/**
 * Embedded end to end: `fleettrace up` in a temporary data directory, a
 * workload that crashes, then `fleettrace query`, `top` and `crashes` (with no
 * flags: they find the local `up`) show it; a restart keeps the data; Ctrl-C
 * leaves no program attached.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import {
  ftProgramsOf,
  processTree,
  waitForUnloaded,
  workload,
  type BpfProgram,
} from '@fleettrace/testing';
import { freeUpPorts, startUp, type UpPorts } from '../harness/up-process';

const CLI = resolve(__dirname, '../../../bin/fleettrace');
const UID = 61000 + (process.pid % 4000);

describe('fleettrace up (embedded)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-up-'));
  // No server or token in the environment: the commands must find the local `up` themselves.
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') };
  delete env.FLEETTRACE_SERVER;
  delete env.FLEETTRACE_TOKEN;
  let ports: UpPorts | undefined;

  /** stderr of the last `up` started */
  let upLog: () => string = () => '';

  async function up(extra: string[] = [], data = join(dir, 'data')): Promise<ChildProcess> {
    ports ??= await freeUpPorts();
    const started = await startUp({ data, env, ports, extra });
    upLog = started.stderr;
    return started.child;
  }

  async function down(child: ChildProcess): Promise<void> {
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, 'Ctrl-C stops cleanly');
  }

  const cli = (...args: string[]) =>
    spawnSync(CLI, args, { env, encoding: 'utf8', timeout: 60_000 });

  async function until<T>(what: string, probe: () => T | undefined, ms = 60_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /**
   * Entries under `root` that group or others may use. A symbolic link's own
   * mode means nothing; a unix socket is reachable only through its directory.
   */
  const notOwnerOnly = (root: string): string[] => {
    const found: string[] = [];
    const walk = (path: string, parentMode: number) => {
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st || st.isSymbolicLink()) return;
      const ownerOnly = (st.mode & 0o077) === 0;
      const socketInPrivateDir = st.isSocket() && (parentMode & 0o077) === 0;
      if (!ownerOnly && !socketInPrivateDir)
        found.push(`${path} 0${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), st.mode);
    };
    walk(root, 0o700);
    return found;
  };

  const crashCount = () => {
    const r = cli(
      'query',
      '--format',
      'json',
      `SELECT count() AS n FROM fleettrace.proc FINAL WHERE event = 'exit' AND signal = 11 AND uid = ${UID}`,
    );
    if (r.status !== 0) return undefined;
    const doc = JSON.parse(r.stdout) as Array<{ n: number | string }>;
    return Number(doc[0]?.n ?? 0);
  };

  test(
    'up, a crashing workload, then query / top / crashes show it; a restart keeps the data',
    { timeout: 400_000 },
    async () => {
      let child = await up();
      // The programs of this `up` (the agent is its child): another fleettrace
      // on the host loads programs of the same names.
      let held: BpfProgram[] = [];
      try {
        // Give the always-on job a moment to attach, then crash three processes as a known uid.
        await until('the default job running', () => {
          const r = cli('jobs', '--json');
          return r.status === 0 && /"running"/.test(r.stdout) ? true : undefined;
        });
        await new Promise((r) => setTimeout(r, 3000));
        for (let i = 0; i < 3; i++) {
          const c = spawn('/bin/sh', ['-c', 'kill -SEGV $$'], {
            uid: UID,
            gid: UID,
            stdio: 'ignore',
          });
          await once(c, 'exit');
        }
        const n = await until('three SIGSEGV exits queryable', () => {
          const c = crashCount();
          return c !== undefined && c >= 3 ? c : undefined;
        });
        assert.equal(n, 3);
        const crashes = cli('crashes', '--since', '10m', '--format', 'json');
        assert.equal(crashes.status, 0, crashes.stderr);
        const rows = JSON.parse(crashes.stdout) as Array<{
          uid: number | string;
          signal: number | string;
        }>;
        assert.ok(
          rows.filter((r) => Number(r.uid) === UID && Number(r.signal) === 11).length >= 3,
          `crashes lists the three: ${crashes.stdout.slice(0, 500)}`,
        );
        // Aggregates arrive with the job's next drain (every 5 s) and ingest's next flush.
        const top = await until('top lists root', () => {
          const r = cli('top', '--by', 'uid', '--since', '10m');
          return r.status === 0 && /^0\s+root\s/m.test(r.stdout) ? r : undefined;
        });
        assert.match(top.stdout, /^UID\s+USER\s+CPU_S/m);
        // Every field of the default job's rows has a column (the manifests are complete).
        assert.doesNotMatch(upLog(), /no table has a column for/);

        // The code path: a known uid burns 4 s of CPU in a named function; top --stacks and
        // profile name that function under that uid (the always-on cpu_profile, 19 Hz).
        const burner = spawn(workload('burn', ['-fno-omit-frame-pointer']), ['4000'], {
          uid: UID,
          gid: UID,
          stdio: 'ignore',
        });
        assert.equal((await once(burner, 'exit'))[0], 0);
        const stacks = await until('top --stacks names the burning function', () => {
          const r = cli('top', '--stacks', '--since', '10m', '--json');
          if (r.status !== 0) return undefined;
          const row = (
            JSON.parse(r.stdout) as Array<{ uid: number; functions: Array<{ function: string }> }>
          ).find((x) => Number(x.uid) === UID);
          return row?.functions.some((f) => f.function.startsWith('fleettrace_test_burn '))
            ? row
            : undefined;
        });
        assert.ok(stacks.functions.length <= 3, 'three functions per row by default');
        const profile = cli('profile', '--uid', String(UID), '--since', '10m', '--json');
        assert.equal(profile.status, 0, profile.stderr);
        const fns = JSON.parse(profile.stdout) as Array<{ symbol: string; self_pct: number }>;
        const burn = fns.find((f) => f.symbol === 'fleettrace_test_burn');
        assert.ok(burn && burn.self_pct > 50, `profile --uid: ${profile.stdout.slice(0, 800)}`);
        const folded = cli(
          'flamegraph',
          '--uid',
          String(UID),
          '--since',
          '10m',
          '--format',
          'folded',
        );
        assert.equal(folded.status, 0, folded.stderr);
        assert.match(folded.stdout, /;fleettrace_test_burn \d+$/m, 'flamegraph --uid: the leaf');
        const svgFile = join(dir, 'burn.svg');
        const svg = cli('flamegraph', '--uid', String(UID), '--since', '10m', '-o', svgFile);
        assert.equal(svg.status, 0, svg.stderr);
        assert.match(readFileSync(svgFile, 'utf8'), /<svg[\s\S]*fleettrace_test_burn/);

        // The agent's /metrics: nothing without the token; with it, its memory and every cache.
        const url = `http://127.0.0.1:${ports![3]}/metrics`;
        assert.equal((await fetch(url)).status, 401, 'no token, no metrics');
        const tokenFile = join(dir, 'data', 'agent', 'metrics-token');
        assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the token is readable by root only');
        const secret = readFileSync(tokenFile, 'utf8').trim();
        assert.equal(
          (await fetch(url, { headers: { authorization: `Bearer ${secret}x` } })).status,
          401,
          'a wrong token, no metrics',
        );
        const answer = await fetch(url, { headers: { authorization: `Bearer ${secret}` } });
        assert.equal(answer.status, 200);
        const body = await answer.text();
        const value = (name: string) => {
          const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(body);
          return m ? Number(m[1]) : undefined;
        };
        const rss = value('fleettrace_agent_resident_bytes') ?? 0;
        assert.ok(rss > 20 << 20 && rss <= 256 << 20, `agent RSS ${rss} within its 256 MiB cap`);
        assert.equal(value('fleettrace_agent_memory_limit_bytes'), 256 << 20);
        for (const cache of ['symbols.elf_files', 'symbols.process_maps'])
          assert.ok(
            value(`fleettrace_agent_cache_limit_bytes{cache="${cache}"}`)! > 0 &&
              value(`fleettrace_agent_cache_evictions_total{cache="${cache}"}`) !== undefined,
            `${cache} in /metrics:\n${body
              .split('\n')
              .filter((l) => l.includes('cache'))
              .join('\n')}`,
          );
        assert.ok(value('fleettrace_agent_events_total')! > 0, 'the publisher counters too');

        // SQLite, the chDB parts (the sensitive database too), agent state, logs: owner-only.
        assert.deepEqual(notOwnerOnly(join(dir, 'data')), [], 'nothing under DATA for other users');
        held = ftProgramsOf(processTree(child.pid!));
        assert.ok(held.length > 0, 'the always-on job has its programs loaded');
      } finally {
        await down(child);
      }
      assert.deepEqual(
        await waitForUnloaded(held, 5000),
        [],
        'nothing stays attached after Ctrl-C',
      );

      child = await up();
      try {
        assert.equal(crashCount(), 3, 'the data survived the restart');
      } finally {
        await down(child);
      }
    },
  );

  test(
    'a throttled always-on job is started again after --retry-throttled',
    { timeout: 400_000 },
    async () => {
      // A budget no job can meet: the run degrades, then ends throttled; up then replaces the job.
      const child = await up(
        ['--budget', '0.001%', '--retry-throttled', '2s'],
        join(dir, 'data-retry'),
      );
      let log = '';
      child.stderr!.on('data', (d) => (log += d));
      try {
        type Job = { id: string; state: string; runs?: Array<{ state: string; reason: string }> };
        const jobs = () => {
          const r = cli('jobs', '--json');
          if (r.status !== 0) return undefined;
          const doc = JSON.parse(r.stdout) as Job[] | { jobs: Job[] };
          return Array.isArray(doc) ? doc : doc.jobs;
        };
        const first = await until('the always-on job', () => jobs()?.[0]?.id);
        const throttled = await until(
          'its run throttled',
          () => {
            const r = cli('job', 'show', first, '--json');
            if (r.status !== 0) return undefined;
            const j = JSON.parse(r.stdout) as Job;
            return j.runs?.find((x) => x.state === 'throttled');
          },
          240_000,
        );
        assert.match(throttled.reason, /exceeds the budget of 0\.001%/);
        const second = await until(
          'a new always-on job',
          () => jobs()?.find((j) => j.id !== first && j.state === 'running')?.id,
        );
        assert.notEqual(second, first);
        assert.equal(
          jobs()?.find((j) => j.id === first)?.state,
          'cancelled',
          'the old one is cancelled',
        );
        await until('up says so', () =>
          /the always-on job .* was throttled .*; starting it again/.test(log) ? true : undefined,
        );
      } finally {
        await down(child);
      }
    },
  );
});
