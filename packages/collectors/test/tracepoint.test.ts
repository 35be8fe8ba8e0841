// SPDX-License-Identifier: Apache-2.0
/**
 * tracepoint against the real kernel: sched:sched_process_fork with a shell
 * (renamed, so its comm is its own) forking 50 times counts at least 50 for
 * that comm; the filter runs in the kernel (a matching one keeps the hits, an
 * excluding one drops them, signed fields compare as signed); a malformed
 * filter is refused naming the position, an unknown field or tracepoint
 * before anything is attached; 12 commands calling getppid at once, more
 * keys than the per-CPU caches hold, are each counted exactly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { renamedCopy, workload } from '@fleettrace/testing';
import { localHost } from '../src/runtime/host';
import { collector } from '../src/tracepoint/collector';
import { parseFilter } from '../src/tracepoint/filter';

const COMM = 'ft_forker';

async function forks(filter: string): Promise<{ hits: number; tracepoint: string[] }> {
  const sh = renamedCopy('/bin/sh', COMM);
  const session = await collector.start({
    params: collector.parseParams({ name: 'sched:sched_process_fork', filter }, 'params'),
    filters: {},
    host: localHost(),
  });
  try {
    const child = spawn(sh, ['-c', 'for i in $(seq 50); do /bin/true; done'], { stdio: 'ignore' });
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
    const { rows, lost } = await session.drain();
    assert.equal(lost, 0);
    const mine = rows.filter((r) => r.comm === COMM);
    return {
      hits: mine.reduce((n, r) => n + r.hits, 0),
      tracepoint: [...new Set(mine.map((r) => `${r.tracepoint} ${r.filter}`))],
    };
  } finally {
    await session.close();
  }
}

describe('tracepoint', () => {
  test('sched:sched_process_fork: 50 forks of a shell counted for its comm', async () => {
    const { hits, tracepoint } = await forks('');
    assert.ok(hits >= 50 && hits <= 60, `${hits} forks`);
    assert.deepEqual(tracepoint, ['sched:sched_process_fork ']);
  });

  test('12 commands through per-CPU caches of 4 keys: each counted exactly', async () => {
    const uid = 64211;
    const calls = 20_000;
    const bins = Array.from({ length: 12 }, (_, i) =>
      renamedCopy(workload('getppid_loop'), `ft_tp_gp${i}`),
    );
    const session = await collector.start({
      params: collector.parseParams({ name: 'syscalls:sys_enter_getppid' }, 'params'),
      filters: { uid },
      host: localHost(),
    });
    try {
      const children = bins.map((b) =>
        spawn(b, [String(calls)], { stdio: 'ignore', uid, gid: uid }),
      );
      const codes = await Promise.all(children.map(async (c) => (await once(c, 'exit'))[0]));
      assert.deepEqual(codes, Array(12).fill(0));
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      for (let i = 0; i < 12; i++) {
        const hits = rows
          .filter((r) => r.comm === `ft_tp_gp${i}` && r.uid === uid)
          .reduce((n, r) => n + r.hits, 0);
        assert.equal(hits, calls, `ft_tp_gp${i}`);
      }
    } finally {
      await session.close();
    }
  });

  test('a filter that matches keeps the hits (string and number, && and ||)', async () => {
    const filter = `parent_comm == "${COMM}" && child_pid > 0 || parent_pid == 1`;
    const { hits } = await forks(filter);
    assert.ok(hits >= 50, `${hits} forks`);
  });

  test('a filter that excludes them keeps none', async () => {
    assert.equal((await forks('parent_comm == "nomatch"')).hits, 0);
    // pid_t is signed: no child pid is negative (as unsigned, every one would be > -1)
    assert.equal((await forks('child_pid < 0')).hits, 0);
    assert.equal((await forks('child_pid > -1 && parent_comm != "' + COMM + '"')).hits, 0);
  });

  test('a malformed filter is refused with its position', () => {
    assert.throws(
      () =>
        collector.parseParams(
          { name: 'sched:sched_process_fork', filter: 'parent_pid = 1' },
          'collectors[0].params',
        ),
      /^ValidationError: collectors\[0\]\.params\.filter: invalid filter at position 11: unexpected character "="/,
    );
    assert.throws(() => parseFilter('a == 1 &&'), /at position 9: expected a predicate after &&/);
    assert.throws(() => parseFilter('a == "x'), /at position 5: unterminated string/);
    assert.throws(
      () => parseFilter('a < "x"'),
      /at position 2: strings compare with == or != only/,
    );
    assert.throws(
      () => collector.parseParams({ name: 'sched_process_fork' }, 'params'),
      /params\.name: expected category:name/,
    );
    assert.throws(() => collector.parseParams({}, 'params'), /params\.name: required/);
  });

  test('an unknown field or tracepoint is refused before anything is attached', async () => {
    const start = (name: string, filter = '') =>
      collector.start({
        params: collector.parseParams({ name, filter }, 'params'),
        filters: {},
        host: localHost(),
      });
    await assert.rejects(
      start('sched:sched_process_fork', 'bogus == 1'),
      /invalid filter at position 0: sched:sched_process_fork has no field "bogus"; its fields: .*child_pid/,
    );
    await assert.rejects(
      start('sched:sched_process_fork', 'parent_comm == 1'),
      /parent_comm is a string/,
    );
    await assert.rejects(start('nosuch:event'), /nosuch:event does not exist on this kernel/);
  });
});
