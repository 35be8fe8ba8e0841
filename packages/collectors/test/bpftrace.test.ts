// SPDX-License-Identifier: Apache-2.0
/**
 * bpftrace jobs against the real kernel and Debian's bpftrace: a script
 * counting openat by comm returns rows for a workload's opens; a syntax error
 * comes back with bpftrace's own error text; a script that would run forever
 * is stopped at its time limit (and prints its maps); output past the size
 * limit is counted lost; the programs it loaded are charged; a kprobe on a
 * kernel without kprobes is refused with that reason; and when the
 * process running it is killed with SIGKILL, no bpftrace and none of its
 * programs remain.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Workload, workload } from '@fleettrace/testing';
import { bpfObjectPath, localHost } from '../src/runtime/host';
import { probeKernelFeatures } from '../src/runtime/kernel-features';
import { collector, probeTypes, rowsOfLine } from '../src/bpftrace/collector';

const start = (raw: Record<string, unknown>) =>
  collector.start({
    params: collector.parseParams(raw, 'params'),
    filters: {},
    host: localHost(),
  });

const alive = (pid: number) => existsSync(`/proc/${pid}`);

async function gone(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

describe('bpftrace', () => {
  test('a script counting openat by comm returns rows for the workload', async () => {
    const session = await start({
      script: 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }',
    });
    const w = await Workload.start(workload('syscall_workload'), ['openat_missing', '100']);
    try {
      await w.run();
    } finally {
      await w.stop();
    }
    assert.ok(session.programStats().length >= 1, 'its program is charged to the job');
    await session.close();
    const { rows } = await session.drain();
    const mine = rows.find((r) => r.map === '@opens' && r.key === 'syscall_workloa');
    assert.ok(
      mine,
      `rows: ${rows
        .slice(0, 5)
        .map((r) => `${r.map}[${r.key}]=${r.value}`)
        .join(' ')}`,
    );
    assert.equal(mine.kind, 'map');
    assert.ok(Number(mine.value) >= 100, `${mine.value} opens`);
    assert.match(mine.script_hash, /^[0-9a-f]{16}$/);
  });

  test("a syntax error returns bpftrace's error text", async () => {
    await assert.rejects(
      start({ script: 'tracepoint:syscalls:sys_enter_openat { @[comm] = count( }' }),
      (err: Error) => {
        assert.match(err.message, /^bpftrace: the script failed \(exit 1\):\n/);
        assert.match(err.message, /syntax error/);
        assert.doesNotMatch(err.message, /RLIMIT_MEMLOCK/);
        return true;
      },
    );
  });

  test('a kprobe on a kernel without kprobes: "kprobe unsupported on this kernel"', async (t) => {
    const features = await probeKernelFeatures(bpfObjectPath('features'));
    if (features.features.kprobe.present) return t.skip('this kernel has kprobes');
    await assert.rejects(
      start({
        script:
          'tracepoint:syscalls:sys_enter_openat { @o = count(); }\nkr:vfs_read { @r = count(); }',
      }),
      (err: Error) => {
        assert.match(
          err.message,
          /^bpftrace: kprobe unsupported on this kernel \(.+\): the script's kr: probes need it; use tracepoint: or rawtracepoint: probes instead/,
        );
        return true;
      },
    );
  });

  test('the probe types of a script, strings and comments aside', () => {
    assert.deepEqual(
      probeTypes(
        'kprobe:vfs_read, tracepoint:syscalls:sys_enter_openat /pid > 1/ { printf("k:%d, f:x}", pid); @[comm, pid] = count(); }\n' +
          '// fentry:commented\n/* kfunc:too */ interval:s:1 { exit(); } uprobe:/bin/bash:readline { }',
      ),
      ['kprobe', 'tracepoint', 'interval', 'uprobe'],
    );
  });

  test('a script that runs forever is stopped at its limit, and prints its maps', async () => {
    const started = Date.now();
    const session = await start({
      script: 'interval:ms:10 { @ticks = count(); }',
      timeout: '1s',
    });
    const pid = (session as unknown as { child: { pid: number } }).child.pid;
    assert.ok(await gone(pid, 8000), 'stopped by the time limit');
    assert.ok(Date.now() - started < 8000);
    const { rows } = await session.drain();
    const ticks = rows.find((r) => r.map === '@ticks');
    assert.ok(ticks && Number(ticks.value) >= 50, rows.map((r) => `${r.map}=${r.value}`).join(' '));
    await session.close();
  });

  test('output past the size limit stops the script and is counted lost', async () => {
    const session = await start({
      script: 'interval:ms:1 { printf("%s\\n", "0123456789012345678901234567890123456789"); }',
      max_output: 2048,
      timeout: '20s',
    });
    const pid = (session as unknown as { child: { pid: number } }).child.pid;
    assert.ok(await gone(pid, 8000), 'stopped by the output limit');
    const { rows } = await session.drain();
    assert.ok(rows.length > 0 && rows.length < 200, `${rows.length} printed lines kept`);
    assert.ok(rows.every((r) => r.kind === 'printf'));
    await session.close();
  });

  test('job filters are refused: a script chooses its own', async () => {
    await assert.rejects(
      collector.start({
        params: collector.parseParams({ script: 'BEGIN { exit(); }' }, 'params'),
        filters: { pid: 1 },
        host: localHost(),
      }),
      /bpftrace: job filters do not reach a script/,
    );
  });

  test('SIGKILL of the process running it leaves no bpftrace and no programs', async () => {
    const dist = join(__dirname, '../src/bpftrace/collector.js');
    const host = join(__dirname, '../src/runtime/host.js');
    const runner = spawn(
      process.execPath,
      [
        '-e',
        `const { collector } = require(${JSON.stringify(dist)});
         const { localHost } = require(${JSON.stringify(host)});
         collector.start({ params: collector.parseParams({ script: 'tracepoint:sched:sched_switch { @[comm] = count(); }', timeout: '10m' }, 'p'), filters: {}, host: localHost() })
           .then((s) => { console.log('child ' + s.child.pid + ' progs ' + s.programStats().map((p) => p.id).join(',')); setInterval(() => {}, 1000); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    runner.stdout.setEncoding('utf8');
    runner.stdout.on('data', (d: string) => (out += d));
    const deadline = Date.now() + 20_000;
    while (!/child \d+ progs [\d,]+\n/.test(out) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const m = /child (\d+) progs ([\d,]+)\n/.exec(out);
    assert.ok(m, `runner said: ${out}`);
    const pid = Number(m[1]);
    const progs = m[2]!.split(',').map(Number);
    assert.ok(alive(pid));
    runner.kill('SIGKILL');
    await once(runner, 'exit');
    assert.ok(await gone(pid), 'bpftrace died with the process that ran it');
    // Its programs go with its file descriptors (the kernel frees them from a worker).
    const deadlineProgs = Date.now() + 5000;
    let left = progs;
    while (left.length && Date.now() < deadlineProgs) {
      await new Promise((r) => setTimeout(r, 100));
      left = left.filter((id) => existsSync(`/proc/self/fdinfo`) && programExists(id));
    }
    assert.deepEqual(left, [], 'no program of it remains');
  });

  test('JSON lines as rows: printf, maps, keyed hists', () => {
    const ts = 1n;
    assert.deepEqual(
      rowsOfLine('{"type": "printf", "data": "hi\\n"}', 'h', ts).map((r) => [r.kind, r.value]),
      [['printf', 'hi\n']],
    );
    assert.deepEqual(
      rowsOfLine('{"type": "map", "data": {"@a": {"x": 1, "y": 2}}}', 'h', ts).map((r) => [
        r.map,
        r.key,
        r.value,
      ]),
      [
        ['@a', 'x', '1'],
        ['@a', 'y', '2'],
      ],
    );
    assert.deepEqual(
      rowsOfLine(
        '{"type": "hist", "data": {"@h": {"bash": [{"min": 8, "max": 15, "count": 3}]}}}',
        'h',
        ts,
      ).map((r) => [r.map, r.key, r.value]),
      [['@h', '["bash",8,15]', '3']],
    );
    assert.deepEqual(rowsOfLine('{"type": "attached_probes", "data": {"probes": 1}}', 'h', ts), []);
  });
});

/** Whether a BPF program id is still loaded (bpftool answers for live ids only). */
function programExists(id: number): boolean {
  const r = spawnSync('bpftool', ['prog', 'show', 'id', String(id)], { encoding: 'utf8' });
  return r.status === 0;
}
