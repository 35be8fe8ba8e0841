// SPDX-License-Identifier: Apache-2.0
/**
 * The fleet commands as an operator runs them: `fleettrace controller` and
 * `fleettrace agent` (simulated, and real on this kernel) as processes, the
 * user commands against them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, startAgent, startController, stopCli } from '../harness/cli-process';
import { renamedCopy, workload } from '@fleettrace/testing';

describe('fleettrace fleet commands', () => {
  test('--help on every fleet command', () => {
    for (const c of ['controller', 'agent', 'hosts', 'run', 'jobs', 'job', 'schedule', 'token']) {
      const r = cli([c, '--help']);
      assert.equal(r.status, 0, c);
      assert.match(r.stdout, /usage: fleettrace/, c);
    }
  });

  test('usage errors exit 2 and name the flag', () => {
    const env = {
      FLEETTRACE_SERVER: 'http://127.0.0.1:9',
      FLEETTRACE_TOKEN: 'ftapi.000000000000.xxxxxxxxxxxxxxxxxxxxxxxx',
    };
    const cases: Array<[string[], RegExp]> = [
      [['run', '--hosts', 'web-*'], /--collect: is required/],
      [
        ['run', '--collect', 'syscalls', '--hosts', '*', '--sample', 'ten'],
        /--sample: must be a percentage/,
      ],
      [
        ['run', '--collect', 'syscalls', '--hosts', '*', '--uid', 'abc'],
        /--uid: must be an integer/,
      ],
      [['run', '--collect', 'a,b', '--param', 'hz=1'], /--param: name the collector/],
      [['run', '--collect', 'syscalls'], /--hosts: or --label is required/],
      [['agent'], /--controller is required/],
      [
        ['agent', '--controller', '127.0.0.1:1', '--simulate', '0'],
        /--simulate: must be between 1/,
      ],
      [['token', 'create'], /--role is required/],
      [['job', 'show'], /job show: expected ID/],
      [['hosts', '--server', 'ftp://x'], /--server: must be a URL/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args, env);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const unreachable = cli(['jobs'], env);
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /cannot reach the controller at http:\/\/127\.0\.0\.1:9/);
  });

  describe('against a running controller and simulated agents', () => {
    let controller: ChildProcess;
    let agents: ChildProcess;
    let env: Record<string, string>;
    const data = mkdtempSync(join(tmpdir(), 'fleettrace-cli-controller-'));

    before(async () => {
      const started = await startController([
        '--data',
        data,
        '--heartbeat',
        '200ms',
        '--lost-after',
        '5s',
      ]);
      controller = started.child;
      assert.equal(statSync(join(data, 'admin-token')).mode & 0o777, 0o600);
      env = started.env;
      agents = (
        await startAgent(started, ['--simulate', '2', '--hostname', 'cli', '--label', 'role=web'], {
          name: 'sim',
          uses: 2,
          ready: /2 simulated agents/,
        })
      ).child;
    });
    after(async () => {
      await stopCli(agents);
      await stopCli(controller);
    });

    test('hosts, run --wait, jobs, job show and cancel, schedules, tokens', async () => {
      let hosts: Array<{ hostname: string; state: string }> = [];
      for (let i = 0; i < 100 && hosts.filter((h) => h.state === 'connected').length < 2; i++) {
        hosts = JSON.parse(cli(['hosts', '--json'], env).stdout);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(hosts.map((h) => `${h.hostname} ${h.state}`).sort(), [
        'cli-1 connected',
        'cli-2 connected',
      ]);
      assert.match(cli(['hosts'], env).stdout, /cli-1\s+connected\s+role=web/);

      const run = cli(
        [
          'run',
          '--collect',
          'syscalls,cpu_profile',
          '--param',
          'cpu_profile.hz=99',
          '--label',
          'role=web',
          '--duration',
          '2s',
          '--wait',
        ],
        env,
      );
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /runs: 2 finished/);
      assert.match(run.stderr, /cli-1: running/, 'per-host progress on stderr');
      assert.match(run.stderr, /cli-2: finished, \d+ events sent, 0 acked, 0 lost/);

      const bad = cli(
        ['run', '--collect', 'cpu_profile', '--param', 'hz=5000', '--hosts', '*'],
        env,
      );
      assert.equal(bad.status, 2);
      assert.match(
        bad.stderr,
        /fleettrace: collectors\[0\]\.params\.hz: must be between 1 and 1000/,
      );

      const started = cli(
        ['run', '--collect', 'syscalls', '--hosts', 'cli-*', '--duration', '60s', '--json'],
        env,
      );
      assert.equal(started.status, 0, started.stderr);
      const id = JSON.parse(started.stdout).id as string;
      assert.match(cli(['jobs'], env).stdout, new RegExp(`${id}\\s+running\\s+syscalls`));
      const cancel = cli(['job', 'cancel', id, '--reason', 'test over'], env);
      assert.equal(cancel.status, 0, cancel.stderr);
      assert.match(
        cancel.stdout,
        new RegExp(`job ${id}: cancelled \\(cancelled by first admin: test over\\)`),
      );
      assert.match(cli(['job', 'show', id], env).stdout, /HOST\s+STATE/);

      const sched = cli(
        [
          'schedule',
          'create',
          '--name',
          'gwp',
          '--every',
          '1m',
          '--run-for',
          '10s',
          '--sample',
          '50%',
          '--collect',
          'cpu_profile',
          '--hosts',
          'cli-*',
        ],
        env,
      );
      assert.equal(sched.status, 0, sched.stderr);
      const sid = /schedule (sch_\S+) created/.exec(sched.stdout)?.[1] as string;
      assert.match(
        cli(['schedule', 'list'], env).stdout,
        new RegExp(`${sid}\\s+gwp\\s+active\\s+1m\\s+10s\\s+50.0%`),
      );
      assert.equal(cli(['schedule', 'delete', sid], env).status, 0);

      const viewer = cli(['token', 'create', '--role', 'viewer', '--name', 'ro'], env);
      assert.equal(viewer.status, 0, viewer.stderr);
      const denied = cli(['run', '--collect', 'syscalls', '--hosts', '*'], {
        ...env,
        FLEETTRACE_TOKEN: viewer.stdout.trim(),
      });
      assert.equal(denied.status, 2);
      assert.match(denied.stderr, /needs the operator role/);
      assert.match(cli(['token', 'list'], env).stdout, /bootstrap\s+sim\s+2\/2/);
    });
  });

  describe('against a running controller and a real agent on this kernel', () => {
    let controller: ChildProcess;
    let agent: ChildProcess;
    let env: Record<string, string>;
    const data = mkdtempSync(join(tmpdir(), 'fleettrace-cli-budget-'));

    before(async () => {
      const started = await startController(['--data', data]);
      controller = started.child;
      env = started.env;
      agent = (
        await startAgent(started, ['--hostname', 'budget-host'], {
          name: 'real',
          ready: /budget-host is agent/,
        })
      ).child;
    });
    after(async () => {
      await stopCli(agent);
      await stopCli(controller);
    });

    test('a job over its budget is visibly duty-cycled, and one that cannot fit is throttled, in job show', async () => {
      const storm = renamedCopy(workload('storm'), 'ft_budget_storm');
      const child = spawn(storm, ['130000']);
      const show = async (id: string, pattern: RegExp, ms: number): Promise<string> => {
        const deadline = Date.now() + ms;
        let out = '';
        while (Date.now() < deadline) {
          out = cli(['job', 'show', id], env).stdout;
          if (pattern.test(out)) return out;
          await new Promise((r) => setTimeout(r, 500));
        }
        assert.fail(`job show ${id} never matched ${pattern}:\n${out}`);
      };
      try {
        const start = (budget: string) => {
          const r = cli(
            [
              'run',
              '--collect',
              'syscalls',
              '--hosts',
              'budget-host',
              '--comm',
              'ft_budget_storm',
              '--budget',
              budget,
              '--duration',
              '80s',
              '--json',
            ],
            env,
          );
          assert.equal(r.status, 0, r.stderr);
          return JSON.parse(r.stdout).id as string;
        };
        const cycled = start('2%');
        const out = await show(
          cycled,
          // rows weighted, or (count_while_detached, the default) counted whole while detached
          /budget-host\s+running\s+.*duty-cycled: syscalls attached 1\/\d+ of every 10 s \((rows of syscalls weighted \d+|syscalls still counting every call while detached)/,
          45_000,
        );
        assert.doesNotMatch(out, /throttled/);
        assert.equal(cli(['job', 'cancel', cycled], env).status, 0);
        const hopeless = start('0.001%');
        await show(
          hopeless,
          /budget-host\s+throttled\s+.*exceeds the budget of 0\.001% even with syscalls attached 1\/64/,
          70_000,
        );
      } finally {
        child.kill();
      }
    });
  });
});
