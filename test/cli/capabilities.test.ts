// SPDX-License-Identifier: Apache-2.0
/**
 * The collectors under exactly the agent unit's capability set (issue 10):
 * every collector runs under `setpriv --bounding-set` limited to the
 * CapabilityBoundingSet of deploy/systemd/fleettrace-agent.service (as root,
 * like the unit), against a workload of a uid of its own, and sees it with
 * the exact figures; then each capability of the set is dropped in turn and
 * the collector refuses to start with a message naming it. Capabilities the
 * machine cannot grant at all (not in this process's bounding set) are left
 * out and reported.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { workload } from '@fleettrace/testing';
import { CLI } from '../harness/cli-process';

const UNIT = resolve(__dirname, '../../../deploy/systemd/fleettrace-agent.service');
const U = 58_000 + (process.pid % 4000);

/** CAP_BPF CAP_PERFMON ... of the unit's CapabilityBoundingSet=. */
function unitCapabilities(): string[] {
  const line = /^CapabilityBoundingSet=(.+)$/m.exec(readFileSync(UNIT, 'utf8'))?.[1];
  assert.ok(line, 'the agent unit sets CapabilityBoundingSet');
  return line.trim().split(/\s+/);
}

/** Names of the capabilities in this process's bounding set (capsh's names, upper case). */
function grantable(): Set<string> {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const r = spawnSync('capsh', [`--decode=${hex}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return new Set(
    r.stdout
      .split('=')[1]!
      .trim()
      .split(',')
      .map((c) => c.toUpperCase()),
  );
}

const setprivCaps = (caps: string[]) =>
  `-all,${caps.map((c) => '+' + c.replace(/^CAP_/, '').toLowerCase()).join(',')}`;

interface TraceResult {
  code: number | null;
  stderr: string;
  json?: { lost: number; rows: Array<Record<string, unknown>> };
}

/** `fleettrace trace ARGS --json` under `caps`, with `work` started once the collector is attached. */
async function traceUnder(
  caps: string[],
  args: string[],
  work?: () => Promise<void>,
): Promise<TraceResult> {
  const child = spawn(
    'setpriv',
    [`--bounding-set=${setprivCaps(caps)}`, '--', CLI, 'trace', ...args, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = once(child, 'exit');
  if (work) {
    await new Promise((r) => setTimeout(r, 1500)); // loaded and attached by then
    await work();
  }
  const [code] = (await exited) as [number | null];
  return { code, stderr: err, ...(code === 0 ? { json: JSON.parse(out) } : {}) };
}

/** Runs `argv` as uid U to completion, `input` on its stdin. */
async function asUser(argv: string[], input = ''): Promise<void> {
  const child = spawn(argv[0]!, argv.slice(1), {
    uid: U,
    gid: U,
    stdio: [input ? 'pipe' : 'ignore', 'ignore', 'ignore'],
  });
  if (input) {
    // A program that exits before reading its stdin closes the pipe: EPIPE is not an error here.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
  }
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, argv.join(' '));
}

describe("collectors under the agent unit's capability set", { timeout: 180_000 }, () => {
  const unit = unitCapabilities();
  const available = grantable();
  const caps = unit.filter((c) => available.has(c));
  const ungrantable = unit.filter((c) => !available.has(c));
  const calls = workload('syscall_workload');
  const burn = workload('burn', ['-fno-omit-frame-pointer']);
  const traced = join(dirname(calls), 'ftcapstrace');
  copyFileSync(calls, traced);

  test('the set is the one DESIGN.md lists', (t) => {
    assert.deepEqual([...unit].sort(), [
      'CAP_BPF',
      'CAP_DAC_READ_SEARCH',
      'CAP_PERFMON',
      'CAP_SYSLOG',
      'CAP_SYS_ADMIN',
      'CAP_SYS_PTRACE',
      'CAP_SYS_RESOURCE',
    ]);
    if (ungrantable.length)
      t.diagnostic(`this machine's root cannot hold ${ungrantable.join(', ')}: tested without`);
  });

  test('proc: every exec of the uid', async () => {
    const r = await traceUnder(caps, ['proc', '--uid', String(U), '--duration', '4s'], async () => {
      for (let i = 0; i < 5; i++) await asUser(['/bin/true']);
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json!.rows.filter((x) => x.event === 'exec' && x.uid === U).length, 5);
    assert.equal(r.json!.lost, 0);
  });

  test('syscalls: exactly 1,000 getppid', async () => {
    const r = await traceUnder(caps, ['syscalls', '--uid', String(U), '--duration', '4s'], () =>
      asUser([calls, 'getppid', '1000'], 'x'),
    );
    assert.equal(r.code, 0, r.stderr);
    const getppid = r.json!.rows.filter((x) => x.syscall === 'getppid' && x.uid === U);
    assert.equal(
      getppid.reduce((s, x) => s + Number(x.count), 0),
      1000,
    );
  });

  test('syscall_trace: exactly 100 getppid of the process named', async () => {
    const r = await traceUnder(
      caps,
      ['syscall_trace', '--comm', 'ftcapstrace', '--duration', '4s'],
      () => asUser([traced, 'getppid', '100'], 'x'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json!.rows.filter((x) => x.nr === 110 && x.uid === U).length, 100);
  });

  test("cpu_profile: another user's process symbolized down to its function", async () => {
    const r = await traceUnder(caps, ['cpu_profile', '--uid', String(U), '--duration', '4s'], () =>
      asUser([burn, '1000']),
    );
    assert.equal(r.code, 0, r.stderr);
    const mine = r.json!.rows.filter((x) => x.uid === U);
    assert.ok(mine.length > 0, 'samples of the uid');
    assert.match(JSON.stringify(mine), /fleettrace_test_burn/);
  });

  test('offcpu and runqlat: the sleeping workload of the uid', async () => {
    for (const collector of ['offcpu', 'runqlat']) {
      const r = await traceUnder(caps, [collector, '--duration', '4s'], () =>
        asUser([calls, '-r', '10', '-s', '50', 'getppid', '1'], 'x'),
      );
      assert.equal(r.code, 0, `${collector}: ${r.stderr}`);
      assert.ok(
        r.json!.rows.some((x) => x.uid === U),
        `${collector}: rows of uid ${U}`,
      );
    }
  });

  test('each capability of the set missing: refused, naming it', async () => {
    for (const drop of caps) {
      const r = await traceUnder(
        caps.filter((c) => c !== drop),
        ['syscalls', '--duration', '1s'],
      );
      assert.equal(r.code, 1, `without ${drop}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`missing capability: ${drop} \\(`), `without ${drop}`);
    }
  });
});
