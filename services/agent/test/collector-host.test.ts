// SPDX-License-Identifier: Apache-2.0
/**
 * The collector host's cost estimate against the real kernel: a duty-cycled
 * syscalls instance that keeps counting while detached is charged for its
 * count-only program over the detached time, measured in a statistics window
 * of the detached part.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { collectors, localHost } from '@fleettrace/collectors';
import { renamedCopy, workload } from '@fleettrace/testing';
import { CollectorHost, DUTY_PERIOD_MS } from '../src/jobs/collector-host';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('collector host cost estimate (real kernel)', () => {
  test('the count-only program is charged for the detached time, at the rate measured then', async () => {
    const syscalls = collectors().get('syscalls')!;
    const host = new CollectorHost(localHost(), [process.pid]);
    const storm = renamedCopy(workload('storm'), 'ft_cost_storm');
    try {
      const handle = await host.subscribe({
        collector: syscalls,
        params: syscalls.parseParams({ count_while_detached: true }, 'params'),
        filters: { comm: 'ft_cost_storm' },
        intervalMs: 1000,
        onData: () => undefined,
        onError: (err) => assert.fail(err),
      });
      assert.equal(handle.canCountWhileDetached, true);
      // The subscription started a period at full time; the next one applies 1/64
      // (attached 156 ms, then detached with ft_sc_count counting). The storm runs
      // through that detach, so the detached part's statistics window sees it.
      handle.setDutyFraction(1 / 64);
      await sleep(DUTY_PERIOD_MS - 300);
      const rate = 200_000;
      const child = spawn(storm, ['8000', String(rate)]);
      const exited = new Promise((resolve) => child.on('exit', resolve));
      await sleep(1000);
      assert.equal(handle.dutyFraction(), 1 / 64);
      const before = handle.countingCost();
      const all = handle.cost();
      const t0 = Date.now();
      await sleep(5000);
      const ms = Date.now() - t0;
      const calls = (rate * ms) / 1000;
      const after = handle.countingCost();
      const end = handle.cost();
      const runs = after.runCount - before.runCount;
      // Every syscall of the host runs it (filtered inside): the storm's, and a few others.
      assert.ok(
        runs >= 0.7 * calls && runs <= 2 * calls + 50_000,
        `count-only runs charged ${runs.toFixed(0)} for ${calls} storm calls in ${ms} ms (all detached)`,
      );
      assert.ok(after.runTimeNs - before.runTimeNs > 0.7 * calls * 10, 'its run time is charged');
      // cost() has it too: the instance's whole estimate grew as much (read a few µs
      // after countingCost(), each time).
      const grew = end.runTimeNs - all.runTimeNs;
      assert.ok(
        grew >= 0.95 * (after.runTimeNs - before.runTimeNs),
        `cost grew ${grew} ns, counting ${after.runTimeNs - before.runTimeNs} ns`,
      );
      await exited;
      await handle.unsubscribe();
    } finally {
      await host.close();
    }
  });
});
