// SPDX-License-Identifier: Apache-2.0
/**
 * cpu_profile against the real kernel: sample counts proportional to CPU time,
 * symbolized user and kernel frames, stripped binaries, short-lived processes
 * and truncated stacks of binaries built without frame pointers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { renamedCopy, workload, Workload } from '@fleettrace/testing';
import type { Filters } from '../src/runtime/definition';
import { localHost } from '../src/runtime/host';
import { collector, type CpuProfileRow } from '../src/cpu_profile/collector';

async function profile(
  filters: Filters,
  hz: number,
  during: () => Promise<void>,
): Promise<CpuProfileRow[]> {
  const session = await collector.start({
    params: collector.parseParams({ hz }, 'params'),
    filters,
    host: localHost(),
  });
  const rows: CpuProfileRow[] = [];
  try {
    await during();
    const { rows: drained, lost } = await session.drain();
    assert.equal(lost, 0, 'no sample lost');
    rows.push(...drained);
  } finally {
    await session.close();
  }
  return rows;
}

const samplesOf = (rows: CpuProfileRow[], pred: (r: CpuProfileRow) => boolean) =>
  rows.filter(pred).reduce((a, r) => a + r.samples, 0);

describe('cpu_profile collector (real kernel)', () => {
  test('a frame-pointer binary spinning in fleettrace_test_burn: symbols, depth to main, count = hz x CPU time', async () => {
    const bin = workload('burn', ['-fno-omit-frame-pointer']);
    const w = await Workload.start(bin, ['--wait', '1500']);
    let cpuNs = 0;
    const hz = 99;
    const rows = await profile({ pid: w.pid }, hz, async () => {
      let out = '';
      w.child.stdout.on('data', (d) => (out += d));
      await w.run();
      cpuNs = Number(out.match(/cpu_ns (\d+)/)?.[1]);
    });
    await w.stop();
    const total = samplesOf(rows, (r) => r.pid === w.pid);
    const inBurn = samplesOf(rows, (r) =>
      r.user_frames.some((f) => f.startsWith('fleettrace_test_burn+')),
    );
    const reachMain = samplesOf(rows, (r) => r.user_frames.some((f) => f.startsWith('main+')));
    const expected = (hz * cpuNs) / 1e9;
    assert.ok(total > 0, 'samples arrived');
    assert.ok(inBurn / total >= 0.8, `${inBurn}/${total} samples in fleettrace_test_burn`);
    assert.ok(reachMain / total >= 0.8, `${reachMain}/${total} stacks reach main`);
    assert.ok(
      Math.abs(total - expected) <= 0.15 * expected,
      `${total} samples vs hz x CPU-seconds = ${expected.toFixed(1)}`,
    );
    const top = rows.filter((r) => r.pid === w.pid).sort((a, b) => b.samples - a.samples)[0]!;
    assert.match(
      top.user_frames[0] ?? '',
      /^fleettrace_test_burn\+0x[0-9a-f]+ \(burn-fnoomitframepointer\)$/,
    );
    assert.equal(top.comm, 'burn-fnoomitfra');
    assert.equal(top.user, 'root');
    assert.match(top.stack_id, /^[0-9a-f]{16}$/);
    assert.equal(top.truncated, false, 'a frame-pointer stack is complete');
  });

  test('reads of /dev/zero show the kernel function that served them', async () => {
    // /dev/zero has both .read (read_zero) and .read_iter (read_iter_zero): since
    // Linux 5.10 vfs_read() prefers .read, so read() lands in read_zero and only
    // readv() (and io_uring) in read_iter_zero.
    const bin = workload('syscall_workload');
    for (const [op, fn] of [
      ['read_zero', 'read_zero'],
      ['readv_zero', 'read_iter_zero'],
    ] as const) {
      const w = await Workload.start(bin, [op, '20000']);
      const rows = await profile({ pid: w.pid }, 199, () => w.run());
      await w.stop();
      assert.ok(
        rows.some((r) => r.kernel_frames.some((f) => f.startsWith(`${fn}+`))),
        `${op}: ${fn} among kernel frames: ${JSON.stringify(rows.map((r) => r.kernel_frames.slice(0, 2)))}`,
      );
    }
  });

  test('an unmodified Debian binary (dd, no frame pointers) reports its real depth, marked truncated', async () => {
    const rows = await profile({ comm: 'dd' }, 199, async () => {
      const dd = spawn('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=64k', 'count=40000'], {
        stdio: 'ignore',
      });
      await once(dd, 'exit');
    });
    const withUser = rows.filter((r) => r.comm === 'dd' && r.user_depth > 0);
    assert.ok(withUser.length > 0, 'dd was sampled with user stacks');
    for (const r of withUser) {
      assert.equal(r.truncated, true, `truncated: ${r.user_frames.join(' <- ')}`);
      assert.equal(r.user_frames.length, r.user_depth);
    }
  });

  test('a stripped binary still yields module+offset frames', async () => {
    const bin = renamedCopy(workload('burn', ['-fno-omit-frame-pointer']), 'ft_stripped');
    const { execFileSync } = await import('node:child_process');
    execFileSync('strip', [bin]);
    const w = await Workload.start(bin, ['--wait', '300']);
    const rows = await profile({ pid: w.pid }, 99, () => w.run());
    await w.stop();
    const frames = rows.filter((r) => r.pid === w.pid).flatMap((r) => r.user_frames);
    assert.ok(frames.length > 0);
    assert.ok(
      frames.some((f) => /^ft_stripped\+0x[0-9a-f]+$/.test(f)),
      `module+offset frames: ${frames.slice(0, 5).join(', ')}`,
    );
  });

  test('a 100 ms process that exits before the drain is symbolized', async () => {
    const bin = renamedCopy(workload('burn', ['-fno-omit-frame-pointer']), 'ft_short_burn');
    const rows = await profile({ comm: 'ft_short_burn' }, 199, async () => {
      const child = spawn(bin, ['100'], { stdio: 'ignore' });
      await once(child, 'exit');
      await new Promise((r) => setTimeout(r, 100)); // gone well before the drain
    });
    const mine = rows.filter((r) => r.comm === 'ft_short_burn');
    assert.ok(mine.length > 0, 'sampled');
    assert.ok(
      mine.some((r) => r.user_frames.some((f) => f.startsWith('fleettrace_test_burn+'))),
      `symbolized after exit: ${JSON.stringify(mine.map((r) => r.user_frames))}`,
    );
  });

  test('hz out of range names the field', () => {
    assert.throws(
      () => collector.parseParams({ hz: 0 }, 'collectors[1].params'),
      /collectors\[1\]\.params\.hz: must be between 1 and 1000/,
    );
    assert.throws(
      () => collector.parseParams({ hz: 5000 }, 'p'),
      /p\.hz: must be between 1 and 1000/,
    );
  });
});
