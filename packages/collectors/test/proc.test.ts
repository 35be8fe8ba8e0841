// SPDX-License-Identifier: Apache-2.0
/**
 * The proc collector against the real kernel: exits, signals with sender and
 * target, crashes, exec arguments with secrets masked, and an OOM kill inside
 * a memory-limited v1 cgroup.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cgroupMounts } from '@fleettrace/common';
import { TestCgroup, workload } from '@fleettrace/testing';
import type { CollectorSession } from '../src/runtime/definition';
import { localHost } from '../src/runtime/host';
import { collector, QUIETED, type ProcRow } from '../src/proc/collector';

type Of<K extends ProcRow['event']> = Extract<ProcRow, { event: K }>;

describe('proc collector (real kernel)', () => {
  let session: CollectorSession<ProcRow>;
  let seen: ProcRow[] = [];
  let bin: string;

  before(async () => {
    bin = workload('proc_workload');
    session = await collector.start({
      params: collector.parseParams({}, 'params'),
      filters: {},
      host: localHost(),
    });
  });
  after(async () => {
    await session.close();
  });

  /** Drains until `match` finds a row (events arrive through the ring reader thread). */
  async function waitFor<K extends ProcRow['event']>(
    event: K,
    match: (r: Of<K>) => boolean,
    ms = 5000,
  ): Promise<Of<K>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0, 'no proc event lost');
      seen.push(...rows);
      const hit = seen.find((r): r is Of<K> => r.event === event && match(r as Of<K>));
      if (hit) return hit;
      if (Date.now() > deadline) assert.fail(`no ${event} event matched within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function exitOf(args: string[], opts: { uid?: number } = {}) {
    const child = spawn(bin, args, { stdio: 'ignore', uid: opts.uid, gid: opts.uid });
    await once(child, 'exit');
    return child.pid as number;
  }

  test('a child exiting with code 3 gives an exit event with code 3', async () => {
    seen = [];
    const pid = await exitOf(['exit', '3']);
    const e = await waitFor('exit', (r) => r.pid === pid);
    assert.equal(e.exit_code, 3);
    assert.equal(e.signal, 0);
    assert.equal(e.comm, 'proc_workload');
    assert.equal(e.ppid, process.pid);
    assert.ok(e.lifetime_ns > 0 && e.lifetime_ns < 5e9);
  });

  test('a child dereferencing NULL exits with signal 11', async () => {
    const pid = await exitOf(['segv']);
    const e = await waitFor('exit', (r) => r.pid === pid);
    assert.equal(e.signal, 11);
    assert.equal(e.signal_name, 'SIGSEGV');
    assert.equal(e.exit_code, null);
    const sig = await waitFor('signal', (r) => r.target_pid === pid && r.signal === 11);
    assert.equal(sig.pid, pid, 'the kernel raises SIGSEGV in the faulting task itself');
  });

  test('SIGKILL from a known sender: signal event with both ends, exit with signal 9', async () => {
    const target = spawn('sleep', ['100'], { stdio: 'ignore', uid: 65534, gid: 65534 });
    await new Promise((r) => setTimeout(r, 100));
    const killer = spawn('/bin/kill', ['-9', String(target.pid)], { stdio: 'ignore' });
    await Promise.all([once(killer, 'exit'), once(target, 'exit')]);
    const sig = await waitFor('signal', (r) => r.target_pid === target.pid && r.signal === 9);
    assert.equal(sig.pid, killer.pid, 'sender pid');
    assert.equal(sig.comm, 'kill', 'sender comm');
    assert.equal(sig.uid, 0, 'sender uid');
    assert.equal(sig.target_uid, 65534, 'target uid');
    assert.equal(sig.target_user, 'nobody');
    assert.equal(sig.target_comm, 'sleep');
    assert.equal(sig.signal_name, 'SIGKILL');
    const exit = await waitFor('exit', (r) => r.pid === target.pid);
    assert.equal(exit.signal, 9);
    assert.equal(exit.uid, 65534);
  });

  test('exec shows filename and arguments with secrets masked', async () => {
    const child = spawn(
      '/bin/echo',
      ['hello', 'password=hunter2', '--token', 's3cr3t', 'db://app:pw@host/x'],
      {
        stdio: 'ignore',
      },
    );
    await once(child, 'exit');
    const e = await waitFor('exec', (r) => r.pid === child.pid);
    assert.match(e.filename, /\/echo$/);
    assert.deepEqual(e.argv, [
      '/bin/echo',
      'hello',
      'password=***',
      '--token',
      '***',
      'db://app:***@host/x',
    ]);
    assert.equal(e.redacted, 3);
    assert.equal(e.args_truncated, false);
    const text = JSON.stringify(seen, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    assert.ok(!text.includes('hunter2'), 'the secret never appears in any row');
  });

  test('sh -c with two secrets in its string: both masked in place, in every row', async () => {
    // mysql and curl here are /bin/true under those names: the redactor reads
    // their options by program name, and nothing leaves the host.
    const dir = mkdtempSync(join(tmpdir(), 'ft-proc-'));
    try {
      for (const name of ['mysql', 'curl']) symlinkSync('/bin/true', join(dir, name));
      const script =
        `${dir}/mysql -uroot -pFirstS3cret shop < /dev/null && ` +
        `${dir}/curl -sf -u ops:'Second S3cret' https://status.example.com/ping`;
      const child = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
      await once(child, 'exit');
      const e = await waitFor('exec', (r) => r.pid === child.pid && r.argv[1] === '-c');
      assert.deepEqual(e.argv, [
        '/bin/sh',
        '-c',
        `${dir}/mysql -uroot -p*** shop < /dev/null && ` +
          `${dir}/curl -sf -u ops:'***' https://status.example.com/ping`,
      ]);
      assert.equal(e.redacted, 2);
      // The commands the shell ran are exec rows of their own, masked the same way.
      const mysql = await waitFor('exec', (r) => r.filename === `${dir}/mysql`);
      assert.deepEqual(mysql.argv.slice(1), ['-uroot', '-p***', 'shop']);
      const curl = await waitFor('exec', (r) => r.filename === `${dir}/curl`);
      assert.deepEqual(curl.argv.slice(1), [
        '-sf',
        '-u',
        'ops:***',
        'https://status.example.com/ping',
      ]);
      const text = JSON.stringify(seen, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
      assert.ok(!text.includes('FirstS3cret'), 'the first secret appears in no row');
      assert.ok(!text.includes('Second S3cret'), 'the second secret appears in no row');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fork of a new process is reported with the child pid', async () => {
    const child = spawn('/bin/sh', ['-c', '/bin/true; exit 0'], { stdio: 'ignore' });
    await once(child, 'exit');
    const fork = await waitFor('fork', (r) => r.pid === child.pid);
    assert.ok(fork.child_pid > 0);
  });

  test('OOM kill in a 64 MiB v1 memory cgroup: victim pid, uid and cgroup path', async (t) => {
    const memory = cgroupMounts().memory;
    if (!memory) {
      t.skip('no v1 memory hierarchy here');
      return;
    }
    const name = `ft-oom-${process.pid}`;
    const cg = TestCgroup.create(memory, name);
    try {
      writeFileSync(join(cg.dir, 'memory.limit_in_bytes'), String(64 << 20));
      if (existsSync(join(cg.dir, 'memory.memsw.limit_in_bytes'))) {
        writeFileSync(join(cg.dir, 'memory.memsw.limit_in_bytes'), String(64 << 20));
      }
      writeFileSync(join(cg.dir, 'memory.swappiness'), '0');
      const child = spawn(bin, ['--wait', 'alloc', '300'], {
        stdio: ['pipe', 'pipe', 'ignore'],
        uid: 65534,
        gid: 65534,
      });
      await new Promise<void>((res) => child.stdout.once('data', () => res()));
      cg.add(child.pid as number);
      child.stdin.write('g');
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      assert.equal(signal, 'SIGKILL', `the allocator was OOM-killed (exit ${code})`);
      const oom = await waitFor('oom_kill', (r) => r.pid === child.pid);
      assert.equal(oom.uid, 65534);
      assert.equal(oom.cgroup, `/${name}`);
      assert.ok(
        oom.anon_rss_kb > 32 * 1024,
        `anon rss ${oom.anon_rss_kb} kB near the 64 MiB limit`,
      );
      const exit = await waitFor('exit', (r) => r.pid === child.pid);
      assert.equal(exit.signal, 9);
    } finally {
      cg.remove();
    }
  });
});

describe('proc collector degraded (real kernel)', () => {
  test('forks, clean exits and repeated execs are counted, not reported; distinct execs and failed exits still are', async () => {
    const bin = workload('proc_workload');
    const session = await collector.start({
      params: collector.parseParams({}, 'params'),
      filters: {},
      host: localHost(),
    });
    try {
      await session.drain();
      assert.match(session.degrade?.() ?? '', /forks, clean exits .* and repeats within 1 s/);
      assert.equal(session.degrade?.(), undefined, 'degrades once');
      const run = async (code: number) => {
        const child = spawn(bin, ['exit', String(code)], { stdio: 'ignore' });
        await once(child, 'exit');
        return child.pid as number;
      };
      // A distinct argv per run: 'exit 0' three times would be repeats.
      const tag = `${process.pid}${Date.now() % 100000}`;
      const distinct = async (i: number) => {
        const child = spawn(bin, ['exit', '0', `${tag}-${i}`], { stdio: 'ignore' });
        await once(child, 'exit');
        return child.pid as number;
      };
      const clean = [await distinct(1), await distinct(2), await distinct(3)];
      const failed = await run(4);
      // The same command 20 times within a second: the first is reported, the rest counted.
      const repeats: number[] = [];
      for (let i = 0; i < 20; i++) repeats.push(await run(0));
      const children = new Set([...clean, failed, ...repeats]);
      const { rows, lost, lostDetail } = await session.drain();
      const ours = rows.filter(
        (r) => children.has(r.pid) || (r.event === 'fork' && children.has(r.child_pid)),
      );
      const execs = ours.filter((r): r is Of<'exec'> => r.event === 'exec');
      assert.deepEqual(
        execs
          .filter((r) => !repeats.includes(r.pid))
          .map((r) => r.pid)
          .sort(),
        [...clean, failed].sort(),
        'every distinct exec is reported',
      );
      const repeatedExecs = execs.filter((r) => repeats.includes(r.pid));
      assert.ok(
        repeatedExecs.length >= 1 && repeatedExecs.length <= 3,
        `the first of 20 identical execs is reported, the repeats within 1 s are not (${repeatedExecs.length} reported)`,
      );
      assert.deepEqual(repeatedExecs[0]?.argv.slice(1), ['exit', '0']);
      const exits = ours.filter((r): r is Of<'exit'> => r.event === 'exit');
      assert.deepEqual(
        exits.map((r) => [r.pid, r.exit_code]),
        [[failed, 4]],
        'only the failed exit is reported',
      );
      assert.equal(ours.filter((r) => r.event === 'fork').length, 0, 'no fork is reported');
      // Our 24 forks, 23 clean exits and >= 17 repeated execs at least (the host runs other processes too).
      const counted = lostDetail?.[QUIETED] ?? 0;
      assert.ok(counted >= 24 + 23 + 17, `counted ${counted}`);
      assert.equal(lostDetail?.['ring buffer full'], 0);
      assert.equal(lost, counted + (lostDetail?.['ring buffer full'] ?? 0));
    } finally {
      await session.close();
    }
  });
});

describe('proc parameters', () => {
  test('bad parameters name the field', () => {
    assert.throws(
      () => collector.parseParams({ redact: '(' }, 'p'),
      /p\.redact\[0\]: not a regular expression/,
    );
    assert.throws(
      () => collector.parseParams({ redact: 'secret=.*' }, 'p'),
      /p\.redact\[0\]: needs a capture group/,
    );
    assert.throws(
      () => collector.parseParams({ ring_kb: 3 }, 'p'),
      /p\.ring_kb: must be between 4/,
    );
    assert.throws(
      () => collector.parseParams({ ring_kb: 24 }, 'p'),
      /p\.ring_kb: must be a power of two/,
    );
    assert.throws(
      () => collector.parseParams({ include_sigchld: 'maybe' }, 'p'),
      /p\.include_sigchld: must be true or false/,
    );
  });
});
