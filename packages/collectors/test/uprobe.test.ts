// SPDX-License-Identifier: Apache-2.0
/**
 * uprobe against the real kernel: fleettrace_test_fn of a test binary called
 * 1,000 times is counted exactly 1,000 times with a latency for each, in a
 * process that was running before the attach and in one started after it;
 * pid:symbol counts only that process; a missing symbol or binary is refused
 * with the target named.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Workload, workload } from '@fleettrace/testing';
import { localHost } from '../src/runtime/host';
import { collector, type UprobeRow } from '../src/uprobe/collector';

const start = (target: string) =>
  collector.start({
    params: collector.parseParams({ target }, 'params'),
    filters: {},
    host: localHost(),
  });

const of = (rows: UprobeRow[], pid: number) => rows.filter((r) => r.pid === pid);
const sum = (rows: UprobeRow[], k: 'calls' | 'returns') => rows.reduce((n, r) => n + r[k], 0);

describe('uprobe', () => {
  test('1,000 calls counted exactly, before and after the attach, each with a latency', async () => {
    const bin = workload('uprobe_target');
    const before = await Workload.start(bin, ['1000']);
    const session = await start(`${bin}:fleettrace_test_fn`);
    let after: Workload | undefined;
    try {
      after = await Workload.start(bin, ['1000']);
      await before.run();
      await after.run();
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      for (const w of [before, after]) {
        const mine = of(rows, w.pid);
        assert.equal(sum(mine, 'calls'), 1000, `calls of ${w.pid}`);
        assert.equal(sum(mine, 'returns'), 1000, `timed returns of ${w.pid}`);
        const hist = mine.flatMap((r) => r.hist).reduce((a, b) => a + b, 0);
        assert.equal(hist, 1000, 'one histogram entry per call');
        assert.ok(mine.every((r) => r.total_ns > 0 && r.max_ns > 0 && r.comm === 'uprobe_target'));
        assert.ok(mine.every((r) => r.target === `${bin}:fleettrace_test_fn`));
      }
    } finally {
      await session.close();
      await before.stop();
      await after?.stop();
    }
  });

  test('pid:symbol counts that process only', async () => {
    const bin = workload('uprobe_target');
    const one = await Workload.start(bin, ['500']);
    const other = await Workload.start(bin, ['500']);
    const session = await start(`${one.pid}:fleettrace_test_fn`);
    try {
      await one.run();
      await other.run();
      const { rows } = await session.drain();
      assert.equal(sum(of(rows, one.pid), 'calls'), 500);
      assert.equal(of(rows, other.pid).length, 0);
    } finally {
      await session.close();
      await one.stop();
      await other.stop();
    }
  });

  test('bad targets are refused, naming them', async () => {
    const bin = workload('uprobe_target');
    await assert.rejects(
      start(`${bin}:no_such_function`),
      new RegExp(`uprobe: cannot attach to ${bin}:no_such_function`),
    );
    await assert.rejects(
      start('/no/such/binary:main'),
      /uprobe: cannot attach to \/no\/such\/binary:main/,
    );
    await assert.rejects(
      start('999999999:main'),
      /params\.target: process 999999999 is not running here/,
    );
    assert.throws(
      () => collector.parseParams({ target: 'nosymbol' }, 'collectors[0].params'),
      /collectors\[0\]\.params\.target: expected binary:symbol or pid:symbol/,
    );
  });
});
