// SPDX-License-Identifier: Apache-2.0
/**
 * counters against the real kernel: a process touching 100 MiB of small
 * pages makes at least 25,600 page faults and they are counted exactly (counting
 * events, given to the task at its context switches); a process that sleeps 20
 * times switches out at least 20 times, and its task clock is its time on the
 * CPU; hardware
 * events on a host without a PMU are reported unsupported while the software
 * ones are still counted; per-cgroup counting has no pid; bad parameters name
 * their field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Workload, workload } from '@fleettrace/testing';
import { bpfObjectPath, localHost } from '../src/runtime/host';
import { probeKernelFeatures } from '../src/runtime/kernel-features';
import { collector, type CountersRow } from '../src/counters/collector';

async function count(
  args: string[],
  raw: Record<string, unknown>,
): Promise<{ rows: CountersRow[]; pid: number; notes: readonly string[] }> {
  const w = await Workload.start(workload('syscall_workload'), args);
  const session = await collector.start({
    params: collector.parseParams(raw, 'params'),
    filters: { pid: w.pid },
    host: localHost(),
  });
  try {
    await w.run();
    const { rows, lost } = await session.drain();
    assert.equal(lost, 0);
    return { rows, pid: w.pid, notes: session.notes ?? [] };
  } finally {
    await session.close();
    await w.stop();
  }
}

const total = (rows: CountersRow[], event: string) =>
  rows.filter((r) => r.event === event).reduce((n, r) => n + r.value, 0);

describe('counters', () => {
  test('100 MiB touched in small pages: at least 25,600 page faults, exactly counted', async () => {
    const { rows, pid } = await count(['touch_mib', '100'], { events: 'page_faults' });
    assert.ok(rows.length > 0 && rows.every((r) => r.pid === pid), 'only the filtered process');
    const faults = total(rows, 'page_faults');
    assert.ok(faults >= 25_600, `${faults} page faults`);
    // Program text, stack and libc add a few hundred; far fewer than a second 100 MiB.
    assert.ok(faults < 25_600 + 5_000, `${faults} page faults`);
    assert.ok(rows.every((r) => r.period === 1 && r.samples === r.value));
    assert.equal(rows[0]!.comm, 'syscall_workloa');
    assert.equal(rows[0]!.uid, 0);
    // The cgroup is taken once per key, when the key is created: the workload's own.
    // (the v2 path, or on hybrid hosts with every task at the v2 root the v1 memory cgroup's).
    const own = readFileSync(`/proc/${process.pid}/cgroup`, 'utf8');
    const v2 = /^0::(.*)$/m.exec(own)?.[1];
    const v1 = /^\d+:memory:(.*)$/m.exec(own)?.[1];
    const expected = v2 && v2 !== '/' ? v2 : v1;
    if (expected && expected !== '/') assert.equal(rows[0]!.cgroup, expected);
  });

  test('20 sleeps: at least 20 context switches; task clock in ns on the CPU', async () => {
    const started = process.hrtime.bigint();
    const { rows } = await count(['-r', '20', '-s', '2', 'getppid', '1'], {
      events: ['context_switches', 'task_clock'],
    });
    const wallNs = Number(process.hrtime.bigint() - started);
    const switches = total(rows, 'context_switches');
    assert.ok(switches >= 20, `${switches} context switches`);
    // 20 × 2 ms asleep: on the CPU for some µs each round, never longer than the run.
    const clock = total(rows, 'task_clock');
    assert.ok(clock > 0 && clock < wallNs - 20 * 2_000_000, `task clock ${clock} ns of ${wallNs}`);
    assert.ok(rows.every((r) => r.period === 1 && r.samples === r.value));
  });

  test('a process that never sleeps: its task clock and faults arrive while it runs', async () => {
    // The 4 Hz timer gives the CPU's counts to the task on it: a drain during a
    // busy loop that has not switched out sees its time.
    const w = await Workload.start(workload('syscall_workload'), [
      '-r',
      '1000000000',
      'getppid',
      '1',
    ]);
    const session = await collector.start({
      params: collector.parseParams({ events: ['task_clock', 'page_faults'] }, 'params'),
      filters: { pid: w.pid },
      host: localHost(),
    });
    try {
      void w.run().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1500));
      const { rows } = await session.drain();
      const clock = total(rows, 'task_clock');
      assert.ok(clock > 500_000_000, `task clock ${clock} ns after 1.5 s of a busy loop`);
    } finally {
      await session.close();
      process.kill(w.pid, 'SIGKILL');
      await w.stop();
    }
  });

  test('12 processes on 2 CPUs through each CPU cache of 4 keys: every one counted whole', async () => {
    // More keys than the per-CPU caches hold: keys leave them for the counts map
    // and come back, and a drain adds both.
    const uid = 64210;
    const ws = await Promise.all(
      Array.from({ length: 12 }, () =>
        Workload.start(workload('syscall_workload'), ['-r', '4', '-s', '1', 'touch_mib', '2'], {
          uid,
          gid: uid,
        }),
      ),
    );
    const session = await collector.start({
      params: collector.parseParams({ events: ['page_faults', 'context_switches'] }, 'params'),
      filters: { uid },
      host: localHost(),
    });
    try {
      await Promise.all(ws.map((w) => w.run()));
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      for (const w of ws) {
        const mine = rows.filter((r) => r.pid === w.pid);
        // 4 rounds of 2 MiB in small pages (the pages are given back between rounds)
        const faults = total(mine, 'page_faults');
        assert.ok(faults >= 4 * 512 && faults < 4 * 512 + 2_000, `pid ${w.pid}: ${faults} faults`);
        assert.ok(total(mine, 'context_switches') >= 4, `pid ${w.pid} switches`);
        assert.ok(mine.every((r) => r.uid === uid));
      }
    } finally {
      await session.close();
      await Promise.all(ws.map((w) => w.stop()));
    }
  });

  test('hardware events: unsupported without a PMU, and the software ones still counted', async () => {
    const features = await probeKernelFeatures(bpfObjectPath('features'));
    const pmu = features.features.perf_event_hardware.present;
    const { rows, notes } = await count(['touch_mib', '8'], {
      events: ['page_faults', 'cycles', 'instructions'],
    });
    assert.ok(total(rows, 'page_faults') >= 8 * 256);
    if (pmu) {
      assert.deepEqual(notes, []);
      assert.ok(total(rows, 'cycles') > 0, 'a PMU counts cycles');
    } else {
      assert.equal(notes.length, 1);
      assert.match(
        notes[0]!,
        /^hardware counters unsupported on this host \(cycles: .*instructions: /,
      );
      assert.match(notes[0]!, /counting page_faults$/);
      assert.equal(total(rows, 'cycles'), 0);
    }
  });

  test('only hardware events asked for on a host without a PMU: a clear error', async (t) => {
    const features = await probeKernelFeatures(bpfObjectPath('features'));
    if (features.features.perf_event_hardware.present) return t.skip('this host has a PMU');
    await assert.rejects(
      collector.start({
        params: collector.parseParams({ events: ['cycles'] }, 'params'),
        filters: {},
        host: localHost(),
      }),
      /counters: hardware counters unsupported on this host .* and no software event asked for/,
    );
  });

  test('per cgroup: no pid and no comm, the user and cgroup kept', async () => {
    const { rows } = await count(['touch_mib', '8'], { events: 'page_faults', per_cgroup: true });
    assert.ok(rows.length >= 1);
    assert.ok(rows.every((r) => r.pid === 0 && r.comm === '' && r.uid === 0));
    assert.ok(total(rows, 'page_faults') >= 8 * 256);
  });

  test('parameters are checked, naming the field', () => {
    assert.throws(
      () => collector.parseParams({ events: ['page_faults', 'bogus'] }, 'collectors[0].params'),
      /collectors\[0\]\.params\.events\[1\]: must be one of page_faults, context_switches/,
    );
    assert.throws(() => collector.parseParams({ max_entries: 1 }, 'params'), /params\.max_entries/);
    assert.throws(
      () => collector.parseParams({ nope: 1 }, 'params'),
      /params\.nope: unknown parameter of counters/,
    );
  });
});
