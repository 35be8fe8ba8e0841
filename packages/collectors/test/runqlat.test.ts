// SPDX-License-Identifier: Apache-2.0
/**
 * runqlat against the real kernel: two CPU hogs of one user pinned to one CPU
 * take turns, so together they wait about as long as they run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { quantile } from '@fleettrace/common';
import { workload } from '@fleettrace/testing';
import { localHost } from '../src/runtime/host';
import { collector, mergeRunqlatRows } from '../src/runqlat/collector';

test('two hogs sharing one CPU wait for it about as long as the run lasts', async () => {
  const burn = workload('burn', ['-fno-omit-frame-pointer']);
  const session = await collector.start({ params: {}, filters: { uid: 65534 }, host: localHost() });
  const started = Date.now();
  try {
    // Each hog burns 600 ms of CPU on CPU 0; sharing it, both are done after ~1.2 s of wall time.
    const hogs = [0, 1].map(() =>
      spawn('taskset', ['-c', '0', burn, '600'], { stdio: 'ignore', uid: 65534, gid: 65534 }),
    );
    await Promise.all(hogs.map((h) => once(h, 'exit')));
    const wallNs = (Date.now() - started) * 1e6;
    const { rows, lost } = await session.drain();
    assert.equal(lost, 0);
    const mine = mergeRunqlatRows(rows.filter((r) => r.uid === 65534));
    assert.equal(mine.length, 1, 'one row for the user (the root cgroup)');
    const row = mine[0]!;
    assert.equal(row.user, 'nobody');
    assert.equal(
      row.hist.reduce((a, b) => a + b, 0),
      row.count,
      'histogram sums to the count',
    );
    // Two hogs on one CPU: while one runs the other waits, so total wait ~ the CPU time of one hog each.
    assert.ok(
      row.total_ns > 0.6 * 0.6e9 * 2 && row.total_ns < wallNs * 1.2,
      `waited ${(row.total_ns / 1e6).toFixed(0)} ms in ${(wallNs / 1e6).toFixed(0)} ms of wall time`,
    );
    assert.ok(
      quantile(row.hist, 0.99) >= 1e6,
      'time slices of the other hog: waits of milliseconds',
    );
  } finally {
    await session.close();
  }
});
