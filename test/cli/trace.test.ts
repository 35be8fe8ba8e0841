// SPDX-License-Identifier: Apache-2.0
/** `fleettrace` as a user runs it: a subprocess, real kernel, real output. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { workload, Workload } from '@fleettrace/testing';

const CLI = resolve(__dirname, '../../../bin/fleettrace');

function run(args: string[]) {
  return spawnSync(CLI, args, { encoding: 'utf8', timeout: 60_000 });
}

describe('fleettrace CLI', () => {
  test('--help on every command', () => {
    for (const args of [
      ['--help'],
      ['trace', '--help'],
      ['features', '--help'],
      ['collectors', '--help'],
    ]) {
      const r = run(args);
      assert.equal(r.status, 0, args.join(' '));
      assert.match(r.stdout, /usage: fleettrace/);
    }
  });

  test('bad flags fail with exit 2 and name the flag', () => {
    const cases: Array<[string[], RegExp]> = [
      [['trace', 'syscalls', '--pid', 'abc'], /--pid: must be an integer/],
      [['trace', 'syscalls', '--duration', '10'], /--duration: must be a duration/],
      [
        ['trace', 'syscalls', '--comm', 'a-very-long-command-name'],
        /filters\.comm: must be at most 15 bytes/,
      ],
      [['trace', 'syscalls', '--cgroup', '/no/such/cgroup'], /filters\.cgroup: no such cgroup/],
      [['trace', 'nope'], /collector: unknown collector "nope"; known: .*syscalls/],
      [['trace', 'syscalls', '--bogus'], /--bogus: unknown option of fleettrace trace/],
      [['trace', 'syscalls', '--param', 'max_entries=0'], /params\.max_entries: must be between/],
      [['frobnicate'], /unknown command "frobnicate"/],
      // The data commands: their output flags are checked before any query runs.
      [['top', '--limit', 'abc'], /--limit: must be an integer/],
      [['crashes', '--limit', '0'], /--limit: must be between 1 and 10000/],
      [['top', '--format', 'xml'], /--format: expected table, json or csv, got "xml"/],
      [['crashes', '--json', '--format', 'csv'], /--json: conflicts with --format csv/],
      [['query', 'SELECT 1', '--format', 'yaml'], /--format: expected table, json or csv/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      assert.equal(r.status, 2, `${args.join(' ')} exits 2 (stderr: ${r.stderr})`);
      assert.match(r.stderr, message);
    }
  });

  test('trace syscalls --pid --json reports the workload exactly', async () => {
    const w = await Workload.start(workload('syscall_workload'), [
      'getppid',
      '2500',
      'openat_missing',
      '40',
    ]);
    try {
      const child = spawn(
        CLI,
        [
          'trace',
          'syscalls',
          '--pid',
          String(w.pid),
          '--duration',
          '3s',
          '--interval',
          '500ms',
          '--json',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      // The CLI loads its filters within the first second; the workload starts after that.
      await new Promise((r) => setTimeout(r, 1500));
      await w.run();
      const code = await new Promise((r) => child.on('exit', r));
      assert.equal(code, 0, err);
      const doc = JSON.parse(out);
      assert.equal(doc.collector, 'syscalls');
      assert.equal(doc.lost, 0);
      // Every row, unfiltered: --pid is a kernel-side filter, so a row of any
      // other process is a failure of the filter, and the totals must come
      // from the workload alone.
      const rows = doc.rows as Array<{ pid: number; nr: number; count: number }>;
      assert.ok(rows.length > 0, 'the workload was seen');
      assert.deepEqual(
        [...new Set(rows.map((r) => r.pid))],
        [w.pid],
        'only the workload passed the --pid filter',
      );
      const total = (nr: number) =>
        rows.filter((r) => r.nr === nr).reduce((a, r) => a + r.count, 0);
      assert.equal(total(110), 2500, 'getppid: exactly the 2500 calls the workload made');
      assert.equal(total(257), 40, 'openat: exactly the 40 calls the workload made');
    } finally {
      await w.stop();
    }
  });

  test('the table reads like strace -c, with errno, p50, p99 and the lost count', () => {
    const r = run(['trace', 'syscalls', '--duration', '1s']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^SYSCALL\s+CALLS\s+ERRORS\s+ERRNO\s+TOTAL\s+AVG\s+P50\s+P99/m);
    assert.match(r.stdout, /^lost: 0 /m);
  });
});
