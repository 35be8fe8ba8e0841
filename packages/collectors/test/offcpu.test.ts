// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Workload, workload } from '@fleettrace/testing';
import { localHost } from '../src/runtime/host';
import { collector } from '../src/offcpu/collector';

describe('offcpu collector (real kernel)', () => {
  test('a process sleeping 200 ms in a loop: blocked time within 25%, interruptible, in nanosleep', async () => {
    const w = await Workload.start(workload('proc_workload'), ['--wait', 'sleeploop', '5', '200']);
    const session = await collector.start({
      params: collector.parseParams({ min_block: '1ms' }, 'params'),
      filters: { pid: w.pid },
      host: localHost(),
    });
    try {
      const done = new Promise<void>((res) =>
        w.child.stdout.on('data', (d: Buffer) => d.toString().includes('done') && res()),
      );
      w.child.stdin.write('g');
      await done;
      // A block is counted when the task runs again; one that races a drain's
      // buffer swap is in the next drain (never lost): drain until all five
      // are in, for at most 2 s.
      const rows: Awaited<ReturnType<typeof session.drain>>['rows'] = [];
      const blocks = () =>
        rows
          .filter((r) => r.pid === w.pid && r.state === 'interruptible')
          .reduce((a, r) => a + r.blocks, 0);
      for (const deadline = Date.now() + 2000; ; ) {
        await new Promise((r) => setTimeout(r, 50));
        const d = await session.drain();
        assert.equal(d.lost, 0);
        rows.push(...d.rows);
        if (blocks() >= 5 || Date.now() > deadline) break;
      }
      const mine = rows.filter((r) => r.pid === w.pid);
      const blocked = mine.reduce((a, r) => a + r.total_ns, 0);
      assert.ok(Math.abs(blocked - 1e9) <= 0.25e9, `blocked ${blocked / 1e6} ms vs 1000 ms`);
      const sleeping = mine.filter((r) => r.state === 'interruptible');
      const seen = mine
        .map((r) => `${r.state} ${r.blocks} blocks ${(r.total_ns / 1e6).toFixed(0)} ms`)
        .join('; ');
      assert.ok(
        sleeping.reduce((a, r) => a + r.blocks, 0) >= 5,
        `five interruptible blocks: ${seen}`,
      );
      assert.ok(
        sleeping.some((r) => r.kernel_frames.some((f) => /nanosleep|schedule/.test(f))),
        `kernel stack through nanosleep: ${JSON.stringify(sleeping.map((r) => r.kernel_frames.slice(0, 6)))}`,
      );
    } finally {
      await session.close();
      await w.stop();
    }
  });

  test('bad parameters name the field', () => {
    assert.throws(
      () => collector.parseParams({ states: 'asleep' }, 'p'),
      /p\.states\[0\]: must be one of/,
    );
    assert.throws(
      () => collector.parseParams({ min_block: 'soon' }, 'p'),
      /p\.min_block: must be a duration/,
    );
  });
});
