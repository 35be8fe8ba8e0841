// SPDX-License-Identifier: Apache-2.0
/**
 * The syscalls collector against the real kernel, as root, with C workloads
 * whose own syscall counts are exact.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { cgroupMounts } from '@fleettrace/common';
import { renamedCopy, TestCgroup, workload, Workload } from '@fleettrace/testing';
import { localHost } from '../src/runtime/host';
import type { CollectorSession, Filters } from '../src/runtime/definition';
import {
  collector,
  mergeSyscallRows,
  OVERFLOW_PID,
  scaleHistogram,
  scaleSampledLatency,
  type SyscallRow,
} from '../src/syscalls/collector';

const execFileAsync = promisify(execFile);
const NR_GETPPID = 110;
const NR_OPENAT = 257;

async function start(
  filters: Filters,
  mapEntries?: Record<string, number>,
  raw: Record<string, unknown> = {},
): Promise<CollectorSession<SyscallRow>> {
  return collector.start({
    params: collector.parseParams(raw, 'params'),
    filters,
    host: localHost(),
    mapEntries,
  });
}

function only(rows: SyscallRow[], pid: number, nr: number): SyscallRow | undefined {
  return mergeSyscallRows(
    rows.filter((r) => r.pid === pid && r.nr === nr),
    true,
  )[0];
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('syscalls collector (real kernel)', () => {
  let bin: string;
  before(() => {
    bin = workload('syscall_workload');
  });

  test('exact counts: 10,000 getppid and 100 ENOENT openat, histograms sum to counts', async () => {
    const w = await Workload.start(bin, ['getppid', '10000', 'openat_missing', '100']);
    const session = await start({ pid: w.pid });
    try {
      await w.run();
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      const getppid = only(rows, w.pid, NR_GETPPID);
      const openat = only(rows, w.pid, NR_OPENAT);
      assert.ok(getppid && openat, 'rows for getppid and openat');
      assert.equal(getppid.count, 10_000);
      assert.equal(getppid.errors, 0);
      assert.equal(openat.count, 100);
      assert.equal(openat.errors, 100);
      assert.deepEqual(openat.errnos, { ENOENT: 100 });
      assert.equal(getppid.syscall, 'getppid');
      assert.equal(openat.syscall, 'openat');
      assert.equal(getppid.comm, 'syscall_workloa');
      assert.equal(getppid.uid, 0);
      assert.equal(getppid.user, 'root');
      for (const r of rows) {
        assert.equal(r.pid, w.pid, 'the pid filter keeps other processes out');
        assert.equal(sum(r.hist), r.count, `${r.syscall}: histogram buckets sum to the call count`);
        assert.ok(r.total_ns > 0 || r.count === 0);
      }
    } finally {
      await session.close();
      await w.stop();
    }
  });

  test('five consecutive intervals sum exactly to the workload count', async () => {
    // 40 rounds of 500 getppid, 25 ms apart: about a second of steady work.
    const w = await Workload.start(bin, ['-r', '40', '-s', '25', 'getppid', '500']);
    const session = await start({ pid: w.pid });
    const perInterval: number[] = [];
    try {
      const running = w.run();
      let finished = false;
      void running.then(() => (finished = true));
      while (!finished) {
        await new Promise((r) => setTimeout(r, 150));
        const { rows, lost } = await session.drain();
        assert.equal(lost, 0);
        perInterval.push(only(rows, w.pid, NR_GETPPID)?.count ?? 0);
      }
      await running;
      const { rows } = await session.drain();
      perInterval.push(only(rows, w.pid, NR_GETPPID)?.count ?? 0);
      assert.ok(
        perInterval.filter((n) => n > 0).length >= 5,
        `at least 5 busy intervals: ${perInterval.join(',')}`,
      );
      assert.equal(sum(perInterval), 40 * 500);
    } finally {
      await session.close();
      await w.stop();
    }
  });

  // Each filter must select its process and exclude a busier other one.
  async function filterCase(
    filters: (target: Workload) => Filters,
    target: Workload,
    other: Workload,
  ): Promise<void> {
    const session = await start(filters(target));
    try {
      await Promise.all([target.run(), other.run()]);
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      assert.equal(
        only(rows, target.pid, NR_GETPPID)?.count,
        1000,
        'the selected process is counted exactly',
      );
      assert.equal(
        rows.filter((r) => r.pid === other.pid).length,
        0,
        'the other process is excluded',
      );
    } finally {
      await session.close();
      await target.stop();
      await other.stop();
    }
  }

  test('pid filter', async () => {
    const target = await Workload.start(bin, ['getppid', '1000']);
    const other = await Workload.start(bin, ['getppid', '20000']);
    await filterCase((t) => ({ pid: t.pid }), target, other);
  });

  test('uid filter', async () => {
    const target = await Workload.start(bin, ['getppid', '1000'], { uid: 65534, gid: 65534 });
    const other = await Workload.start(bin, ['getppid', '20000']);
    await filterCase(() => ({ uid: 65534 }), target, other);
  });

  test('comm filter', async () => {
    const named = renamedCopy(bin, 'ft_comm_target');
    const target = await Workload.start(named, ['getppid', '1000']);
    const other = await Workload.start(bin, ['getppid', '20000']);
    await filterCase(() => ({ comm: 'ft_comm_target' }), target, other);
  });

  test('skipped processes (the agent and what it charges) are not counted; others are, exactly', async () => {
    const skipped = await Workload.start(bin, ['getppid', '20000']);
    const kept = await Workload.start(bin, ['getppid', '1000']);
    const session = await start({});
    try {
      session.setKernelFilter({ skipPids: [skipped.pid, process.pid] });
      // What was counted before the filter applied (the map update itself, at its exit) goes.
      await session.drain();
      await Promise.all([skipped.run(), kept.run()]);
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      assert.equal(only(rows, kept.pid, NR_GETPPID)?.count, 1000, 'an unlisted process is counted');
      assert.equal(rows.filter((r) => r.pid === skipped.pid).length, 0, 'a skipped one is not');
      assert.equal(rows.filter((r) => r.pid === process.pid).length, 0, 'nor this process');
      // A skip list is accepted beside the other dimensions; more than its slots are refused.
      session.setKernelFilter({ pids: [kept.pid, skipped.pid], skipPids: [skipped.pid] });
      assert.throws(
        () => session.setKernelFilter({ skipPids: [1, 2, 3, 4, 5] }),
        /5 processes to skip exceed the kernel filter's 4 slots/,
      );
    } finally {
      await session.close();
      await skipped.stop();
      await kept.stop();
    }
  });

  for (const [label, hierarchy] of [
    ['v1 memory', 'memory'],
    ['v2', 'v2'],
  ] as const) {
    test(`cgroup filter, ${label} cgroup`, async (t) => {
      const mounts = cgroupMounts();
      const mount = mounts[hierarchy];
      if (!mount) {
        t.skip(`no ${label} hierarchy mounted on this host`);
        return;
      }
      const cg = TestCgroup.create(mount, `ft-test-${process.pid}-${hierarchy}`);
      const target = await Workload.start(bin, ['getppid', '1000']);
      const other = await Workload.start(bin, ['getppid', '20000']);
      try {
        cg.add(target.pid);
        await filterCase(() => ({ cgroup: cg.dir }), target, other);
      } finally {
        cg.remove();
      }
    });
  }

  test('rows carry the cgroup path of a v1 memory cgroup', async () => {
    const mount = cgroupMounts().memory;
    assert.ok(mount, 'the development hosts have a v1 memory hierarchy');
    const name = `ft-test-${process.pid}-path`;
    const cg = TestCgroup.create(mount, name);
    const w = await Workload.start(bin, ['getppid', '10']);
    cg.add(w.pid);
    const session = await start({ pid: w.pid });
    try {
      await w.run();
      const { rows } = await session.drain();
      assert.equal(only(rows, w.pid, NR_GETPPID)?.cgroup, `/${name}`);
    } finally {
      await session.close();
      await w.stop();
      cg.remove();
    }
  });

  test('a full map is counted as lost, not dropped silently', async () => {
    const w = await Workload.start(bin, ['getppid', '300', 'openat_missing', '200']);
    // One entry per buffer, overflow maps included: the first key takes it, the rest cannot be recorded.
    const session = await start(
      { pid: w.pid },
      { ft_sc_stats_a: 1, ft_sc_stats_b: 1, ft_sc_cstats_a: 1, ft_sc_cstats_b: 1 },
    );
    try {
      await w.run();
      const { rows, lost } = await session.drain();
      const counted = sum(rows.map((r) => r.count));
      assert.equal(rows.filter((r) => r.count > 0).length, 2, 'one key per map fits');
      assert.equal(
        rows.filter((r) => r.pid === OVERFLOW_PID).length,
        1,
        'one of them the overflow',
      );
      // getppid and openat take the two slots; the workload's other calls (its read and write) do not fit.
      assert.ok(lost >= 1, `lost ${lost} >= 1 (the calls that fit neither map)`);
      assert.ok(counted >= 500, `counted ${counted}: 300 getppid and 200 openat`);
    } finally {
      await session.close();
      await w.stop();
    }
  });

  describe('process churn: 5,000 short processes of one uid, 10 getppid each', () => {
    const uid = 62_000 + (process.pid % 3000);
    const churn = async (n: number): Promise<number> => {
      const { stdout } = await execFileAsync(renamedCopy(workload('churn'), 'ft_churn'), [
        String(n),
        '10',
        String(uid),
        '8',
      ]);
      const m = stdout.match(/done (\d+) (\d+)/);
      assert.ok(m, `churn output: ${stdout}`);
      assert.equal(Number(m[1]), n, 'every child made its calls');
      return Number(m[2]);
    };
    const getppidOf = (rows: SyscallRow[]) =>
      sum(rows.filter((r) => r.uid === uid && r.nr === NR_GETPPID).map((r) => r.count));

    test('drained every second as the agent does: exactly 50,000 getppid for that uid', async () => {
      const session = await start({ uid });
      const rows: SyscallRow[] = [];
      let lost = 0;
      const timer = setInterval(() => {
        void session.drain().then((d) => {
          rows.push(...d.rows);
          lost += d.lost;
        });
      }, 1000);
      try {
        const made = await churn(5000);
        assert.equal(made, 50_000);
        clearInterval(timer);
        await new Promise((r) => setTimeout(r, 50));
        const last = await session.drain();
        rows.push(...last.rows);
        lost += last.lost;
        assert.equal(lost, 0);
        assert.equal(getppidOf(rows), 50_000);
      } finally {
        clearInterval(timer);
        await session.close();
      }
    });

    test('a per-process map far too small: the overflow is kept per (uid, comm, syscall), none lost', async () => {
      // 256 keys for ~15,000 (pid, syscall) pairs, drained once at the end.
      const session = await start({ uid }, { ft_sc_stats_a: 256, ft_sc_stats_b: 256 });
      try {
        assert.equal(await churn(5000), 50_000);
        const { rows, lost, coarsened } = await session.drain();
        assert.equal(lost, 0, 'nothing lost');
        assert.ok((coarsened ?? 0) > 40_000, `coarsened ${coarsened}`);
        assert.equal(getppidOf(rows), 50_000, 'per-uid getppid total is exact');
        const overflow = rows.filter((r) => r.pid === OVERFLOW_PID && r.nr === NR_GETPPID);
        assert.equal(overflow.length, 1, 'one overflow row per (uid, comm, syscall)');
        assert.equal(overflow[0]!.comm, 'ft_churn');
        assert.equal(overflow[0]!.uid, uid);
        assert.equal(sum(overflow[0]!.hist), overflow[0]!.count, 'its histogram sums to its count');
        const fine = rows.filter((r) => r.pid !== OVERFLOW_PID && r.uid === uid);
        assert.ok(fine.length > 0 && fine.length <= 256, `${fine.length} per-process rows`);
      } finally {
        await session.close();
      }
    });
    test('degraded: every call is counted per (uid, comm, syscall), no per-process rows, totals exact', async () => {
      const session = await start({ uid });
      try {
        assert.match(session.degrade?.() ?? '', /per \(uid, comm, syscall\), not per process/);
        assert.equal(session.degrade?.(), undefined, 'degrades once');
        assert.equal(await churn(5000), 50_000);
        const { rows, lost, coarsened } = await session.drain();
        assert.equal(lost, 0, 'nothing lost');
        assert.ok((coarsened ?? 0) >= 50_000, `coarsened ${coarsened}`);
        assert.equal(getppidOf(rows), 50_000, 'per-uid getppid total is exact');
        const ours = rows.filter((r) => r.uid === uid);
        assert.equal(ours.filter((r) => r.pid !== OVERFLOW_PID).length, 0, 'no per-process rows');
        assert.equal(
          ours.filter((r) => r.nr === NR_GETPPID).length,
          1,
          'one getppid row for the command',
        );
      } finally {
        await session.close();
      }
    });
  });

  describe('duty-cycled: detached most of the time, every call still counted', () => {
    const uid = 62_000 + ((process.pid + 1500) % 3000);
    const getppidOf = (rows: SyscallRow[]) =>
      sum(rows.filter((r) => r.uid === uid && r.nr === NR_GETPPID).map((r) => r.count));
    const churn = async (n: number): Promise<number> => {
      const { stdout } = await execFileAsync(renamedCopy(workload('churn'), 'ft_duty_churn'), [
        String(n),
        '10',
        String(uid),
        '8',
      ]);
      return Number(/done (\d+) (\d+)/.exec(stdout)?.[2]);
    };

    test('detached and attached every 20 ms during 5,000 short processes: exactly 50,000 getppid', async () => {
      // The hand-over (ft_sc_count attached, the flag flipped, the others
      // detached, and back) happens dozens of times while calls run.
      const session = await start({ uid }, undefined, { count_while_detached: true });
      const duty = session.dutyCycle!;
      assert.equal(duty.countsWhileDetached, true);
      let switches = 0;
      const timer = setInterval(() => {
        duty.setAttached(!duty.attached());
        switches++;
      }, 20);
      try {
        assert.equal(await churn(5000), 50_000);
        clearInterval(timer);
        duty.setAttached(true);
        const { rows, lost } = await session.drain();
        assert.equal(lost, 0);
        assert.ok(switches >= 10, `${switches} switches`);
        assert.equal(getppidOf(rows), 50_000, 'per-uid getppid total is exact');
        // untimed calls borrow the latency of the same syscall's timed ones: histograms sum
        // to the count; a syscall never timed in the interval has none (and total_ns 0)
        for (const r of rows.filter((x) => x.uid === uid)) {
          if (r.nr === NR_GETPPID) assert.equal(sum(r.hist), r.count, 'getppid has timed calls');
          else
            assert.ok(
              sum(r.hist) === r.count || (sum(r.hist) === 0 && r.total_ns === 0),
              `${r.syscall} pid ${r.pid}: count ${r.count}, hist ${sum(r.hist)}, total_ns ${r.total_ns}`,
            );
        }
      } finally {
        clearInterval(timer);
        await session.close();
      }
    });

    test('without count_while_detached, nothing is counted while detached (rows are weighted instead)', async () => {
      const session = await start({ uid }, undefined, { count_while_detached: false });
      try {
        assert.equal(session.dutyCycle!.countsWhileDetached ?? false, false);
        session.dutyCycle!.setAttached(false);
        assert.equal(await churn(200), 2_000);
        const { rows } = await session.drain();
        assert.equal(getppidOf(rows), 0);
      } finally {
        await session.close();
      }
    });

    test('detached for the whole run: the count-only program counts every call and error', async () => {
      const session = await start({ uid }, undefined, { count_while_detached: true });
      try {
        session.dutyCycle!.setAttached(false);
        assert.equal(await churn(2000), 20_000);
        const { rows, lost, coarsened } = await session.drain();
        assert.equal(lost, 0);
        assert.equal(getppidOf(rows), 20_000);
        assert.ok((coarsened ?? 0) >= 20_000, `coarsened ${coarsened}`);
        const ours = rows.filter((r) => r.uid === uid);
        assert.ok(ours.every((r) => r.pid === OVERFLOW_PID && r.comm !== ''));
        // calls still in ft_sc_count's per-CPU cache and those it had evicted to the
        // overflow map are one row per (comm, syscall): the drain hashes the comm as the kernel does
        const ids = ours.map((r) => `${r.comm}/${r.nr}`);
        assert.equal(new Set(ids).size, ids.length, `duplicate rows: ${ids.join(' ')}`);
      } finally {
        await session.close();
      }
    });

    test('detached and drained every 20 ms: the count-only caches are swapped and read, none lost', async () => {
      // More than 4 (uid, comm, syscall) keys per CPU (the churn's execs, exits and
      // getppid under two comms): slots are evicted to the overflow map and read from
      // the caches at each drain, while calls run.
      const session = await start({ uid }, undefined, { count_while_detached: true });
      const rows: SyscallRow[] = [];
      let lost = 0;
      let drains = 0;
      let draining = Promise.resolve();
      session.dutyCycle!.setAttached(false);
      const timer = setInterval(() => {
        draining = draining.then(async () => {
          const d = await session.drain();
          rows.push(...d.rows);
          lost += d.lost;
          drains++;
        });
      }, 20);
      try {
        assert.equal(await churn(6000), 60_000);
        clearInterval(timer);
        await draining;
        const d = await session.drain();
        rows.push(...d.rows);
        lost += d.lost;
        assert.equal(lost, 0);
        // (a fast machine makes the 6,000 processes in under a second)
        assert.ok(drains >= 3, `${drains} drains`);
        assert.equal(getppidOf(rows), 60_000);
      } finally {
        clearInterval(timer);
        await draining;
        await session.close();
      }
    });
  });

  after(() => undefined);
});

describe('syscalls latency sampling (logic)', () => {
  const row = (pid: number, nr: number, count: number, total: number, hist: number[]) =>
    ({ pid, nr, count, total_ns: total, hist }) as unknown as SyscallRow;

  test('a histogram scales to the call count exactly, by largest remainders', () => {
    assert.deepEqual(scaleHistogram([1, 1, 1], 10), [4, 3, 3]);
    assert.deepEqual(scaleHistogram([3, 0, 1], 8), [6, 0, 2]);
    assert.deepEqual(scaleHistogram([0, 0], 5), [0, 0]);
  });

  test('partly timed rows scale total and histogram; untimed rows borrow the syscall of the interval', () => {
    const a = row(1, 39, 100, 1000, [0, 10, 0]);
    const b = row(2, 39, 7, 0, [0, 0, 0]);
    const c = row(3, 0, 5, 500, [0, 5, 0]);
    const timed = new Map([
      [a, 10],
      [c, 5],
    ]);
    scaleSampledLatency([a, b, c], timed);
    assert.equal(a.total_ns, 10_000);
    assert.deepEqual(a.hist, [0, 100, 0]);
    assert.equal(b.total_ns, 700, '100 ns per call, like pid 1');
    assert.deepEqual(b.hist, [0, 7, 0]);
    assert.equal(c.total_ns, 500, 'every call timed: unchanged');
  });

  test('max_timed_per_tick is validated', () => {
    assert.throws(
      () => collector.parseParams({ max_timed_per_tick: -1 }, 'p'),
      /p\.max_timed_per_tick: /,
    );
    assert.equal(collector.parseParams({ max_timed_per_tick: 0 }, 'p').maxTimedPerTick, 0);
  });
});

describe('syscalls parameters', () => {
  test('unknown and out-of-range parameters name the field', () => {
    assert.throws(
      () => collector.parseParams({ nope: 1 }, 'collectors[0].params'),
      /collectors\[0\]\.params\.nope: unknown parameter/,
    );
    assert.throws(
      () => collector.parseParams({ max_entries: 0 }, 'collectors[0].params'),
      /collectors\[0\]\.params\.max_entries: must be between 1 and 1048576/,
    );
  });
});
