// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's job runner against the real kernel: shared kernel instances,
 * per-job data, refusals for missing kernel features, cancellation, and
 * budget enforcement measured against the workload's own slowdown.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { describe, test } from 'node:test';
import {
  bpfObjectPath,
  probeKernelFeatures,
  type KernelFeatureReport,
} from '@fleettrace/collectors';
import { RunState, type JobAssignment, type JobStatus } from '@fleettrace/proto';
import {
  ftProgramsOf,
  renamedCopy,
  waitForUnloaded,
  workload,
  Workload,
} from '@fleettrace/testing';
import { ChargedProcesses } from '../src/jobs/charged-cpu';
import { JobRunner } from '../src/jobs/job-runner';
import type { RowBatch } from '../src/jobs/job-executor';

function assignment(
  over: Partial<JobAssignment> & Pick<JobAssignment, 'jobId' | 'collectors'>,
): JobAssignment {
  return {
    runId: `${over.jobId}-run`,
    filters: {},
    startUnixMs: Date.now(),
    endUnixMs: Date.now() + 60_000,
    limits: { overheadBudget: 0, maxEventsPerSecond: 0 },
    weight: 1,
    intervalMs: 200,
    ...over,
  };
}

class Recorder {
  statuses: JobStatus[] = [];
  batches: RowBatch[] = [];
  onStatus = (s: JobStatus) => this.statuses.push(s);
  onRows = (b: RowBatch) => this.batches.push(b);

  async until(pred: (s: JobStatus) => boolean, ms = 10_000): Promise<JobStatus> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.statuses.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline)
        assert.fail(
          `no matching status within ${ms} ms: ${JSON.stringify(this.statuses.slice(-3))}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  rowsOf(jobId: string): Array<{ pid: number; nr: number; count: number }> {
    return this.batches
      .filter((b) => b.jobId === jobId)
      .flatMap((b) => b.rows as Array<{ pid: number; nr: number; count: number }>);
  }
}

const NR_GETPPID = 110;
let features: KernelFeatureReport;

/**
 * A proc job whose overhead includes a co-located process (standing in for
 * `up`'s ingest and store, JobRunnerOptions.chargedCpuUs) that idles 8 s while
 * the run measures the pipeline's floor, then spins one CPU for `spinMs`.
 */
async function chargedProcJob(
  jobId: string,
  spinMs: number,
  budgetOfOneCpu: number,
  throttleAfterMs: number,
): Promise<{ rec: Recorder; close: () => Promise<void> }> {
  features ??= await probeKernelFeatures(bpfObjectPath('features'));
  const busy = spawn(process.execPath, [
    '-e',
    `setTimeout(() => { const end = Date.now() + ${spinMs}; while (Date.now() < end); setTimeout(() => {}, 60000); }, 8000);`,
  ]);
  await once(busy, 'spawn');
  const charged = new ChargedProcesses([busy.pid as number]);
  const rec = new Recorder();
  const runner = new JobRunner(rec, {
    features,
    hookCostNs: 0,
    warmupMs: 0,
    throttleAfterMs,
    chargedCpuUs: () => charged.cpuUs(),
  });
  runner.assign(
    assignment({
      jobId,
      collectors: [{ name: 'proc', params: {} }],
      limits: { overheadBudget: budgetOfOneCpu / cpus().length, maxEventsPerSecond: 0 },
    }),
  );
  return {
    rec,
    close: async () => {
      busy.kill();
      await runner.close();
    },
  };
}

describe('JobRunner (real kernel)', () => {
  test('two jobs on one collector share one kernel instance and each gets only its own data', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const bin = workload('syscall_workload');
    const a = await Workload.start(bin, ['getppid', '1000']);
    const b = await Workload.start(bin, ['getppid', '2000']);
    const rec = new Recorder();
    const runner = new JobRunner(rec, { features, hookCostNs: 0 });
    try {
      runner.assign(
        assignment({
          jobId: 'job-a',
          collectors: [{ name: 'syscalls', params: {} }],
          filters: { pid: a.pid },
        }),
      );
      runner.assign(
        assignment({
          jobId: 'job-b',
          collectors: [{ name: 'syscalls', params: {} }],
          filters: { pid: b.pid },
        }),
      );
      await rec.until((s) => s.jobId === 'job-a' && s.state === RunState.RUN_STATE_RUNNING);
      await rec.until((s) => s.jobId === 'job-b' && s.state === RunState.RUN_STATE_RUNNING);
      assert.deepEqual(
        ftProgramsOf()
          .map((p) => p.name)
          .sort(),
        // ft_sc_count is loaded with them (count_while_detached), attached only while they are not
        ['ft_sc_count', 'ft_sc_enter', 'ft_sc_exit'],
        'one set of ft_ programs in this process',
      );
      assert.deepEqual(runner.activeCollectors(), ['syscalls']);
      await Promise.all([a.run(), b.run()]);
      runner.cancel('job-a', 'test over');
      runner.cancel('job-b', 'test over');
      await rec.until((s) => s.jobId === 'job-a' && s.state === RunState.RUN_STATE_CANCELLED);
      await rec.until((s) => s.jobId === 'job-b' && s.state === RunState.RUN_STATE_CANCELLED);
      const rowsA = rec.rowsOf('job-a');
      const rowsB = rec.rowsOf('job-b');
      assert.ok(
        rowsA.every((r) => r.pid === a.pid),
        'job a sees only its pid',
      );
      assert.ok(
        rowsB.every((r) => r.pid === b.pid),
        'job b sees only its pid',
      );
      const count = (rows: typeof rowsA) =>
        rows.filter((r) => r.nr === NR_GETPPID).reduce((x, r) => x + r.count, 0);
      assert.equal(count(rowsA), 1000);
      assert.equal(count(rowsB), 2000);
      assert.deepEqual(
        runner.activeCollectors(),
        [],
        'the last job to leave detached the collector',
      );
    } finally {
      await runner.close();
      await a.stop();
      await b.stop();
    }
  });

  test('a job whose collector needs a missing kernel feature is refused with the reason', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const without = structuredClone(features);
    without.features.tp_btf = { present: false, reason: 'test: pretend tp_btf is absent' };
    const rec = new Recorder();
    const runner = new JobRunner(rec, { features: without, hookCostNs: 0 });
    try {
      runner.assign(
        assignment({ jobId: 'job-offcpu', collectors: [{ name: 'offcpu', params: {} }] }),
      );
      const failed = await rec.until((s) => s.state === RunState.RUN_STATE_FAILED);
      assert.match(
        failed.reason,
        /collector offcpu cannot run on kernel .*: missing tp_btf \(test: pretend tp_btf is absent\)/,
      );
      runner.assign(
        assignment({
          jobId: 'job-bad',
          collectors: [{ name: 'cpu_profile', params: { hz: '5000' } }],
        }),
      );
      const bad = await rec.until(
        (s) => s.jobId === 'job-bad' && s.state === RunState.RUN_STATE_FAILED,
      );
      assert.match(bad.reason, /collectors\[0\]\.params\.hz: must be between 1 and 1000/);
    } finally {
      await runner.close();
    }
  });

  test('cancel stops a running job within 2 s and detaches its programs', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const rec = new Recorder();
    const runner = new JobRunner(rec, { features, hookCostNs: 0 });
    try {
      runner.assign(
        assignment({
          jobId: 'job-c',
          collectors: [
            { name: 'cpu_profile', params: {} },
            { name: 'proc', params: {} },
          ],
        }),
      );
      await rec.until((s) => s.state === RunState.RUN_STATE_RUNNING);
      const held = ftProgramsOf();
      assert.ok(held.length > 0, 'job-c loaded its programs');
      const asked = Date.now();
      runner.cancel('job-c', 'operator asked');
      const cancelled = await rec.until((s) => s.state === RunState.RUN_STATE_CANCELLED);
      assert.ok(Date.now() - asked < 2000, `cancelled in ${Date.now() - asked} ms`);
      assert.equal(cancelled.reason, 'operator asked');
      assert.deepEqual(await waitForUnloaded(held, 2000), [], 'detached (freed within 2 s)');
      assert.deepEqual(ftProgramsOf(), [], 'this process holds no ft_ program');
    } finally {
      await runner.close();
    }
  });

  test('a syscall_trace on a syscall storm with a 0.1% budget ends throttled, its figure within x2 of the slowdown', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const storm = renamedCopy(workload('storm'), 'ft_storm');
    const windows = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => l.split(' ').map(Number) as [number, number]);
    const runStorm = (ms: number) =>
      new Promise<Array<[number, number]>>((resolve, reject) => {
        const child = spawn(storm, [String(ms)]);
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('exit', (code) =>
          code === 0 ? resolve(windows(out)) : reject(new Error(`storm exit ${code}`)),
        );
      });
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1] as number;
    const baseNs = median((await runStorm(1000)).map(([, ns]) => ns));

    const rec = new Recorder();
    const runner = new JobRunner(rec, { features, warmupMs: 0, throttleAfterMs: 0 });
    try {
      const hookNs = await runner.hookCostNs();
      const stormDone = runStorm(9000);
      runner.assign(
        assignment({
          jobId: 'job-storm',
          collectors: [{ name: 'syscall_trace', params: {} }],
          filters: { comm: 'ft_storm' },
          limits: { overheadBudget: 0.001, maxEventsPerSecond: 0 },
        }),
      );
      const running = await rec.until((s) => s.state === RunState.RUN_STATE_RUNNING);
      const held = ftProgramsOf();
      assert.ok(held.length > 0, 'the job loaded its programs');
      const throttled = await rec.until((s) => s.state === RunState.RUN_STATE_THROTTLED, 20_000);
      const traced = (await stormDone)
        .filter(([t]) => t > running.unixMs + 150 && t < throttled.unixMs - 50)
        .map(([, ns]) => ns);
      assert.ok(traced.length >= 3, `storm windows while traced: ${traced.length}`);
      const tracedNs = median(traced);
      // The storm keeps one CPU busy: the share of it lost to tracing, as a share of the host.
      const independent = (tracedNs - baseNs) / tracedNs / cpus().length;
      assert.match(throttled.reason, /exceeds the budget of 0\.100%/);
      assert.ok(throttled.overheadShare > 0.001, `measured ${throttled.overheadShare}`);
      const ratio = throttled.overheadShare / independent;
      assert.ok(
        ratio >= 0.5 && ratio <= 2,
        `agent measured ${(throttled.overheadShare * 100).toFixed(2)}% vs the storm's slowdown ${(independent * 100).toFixed(2)}% ` +
          `(x${ratio.toFixed(2)}; base ${baseNs} ns, traced ${tracedNs} ns per call, hook cost ${hookNs.toFixed(0)} ns)`,
      );
      assert.deepEqual(await waitForUnloaded(held, 2000), [], 'the throttled job detached');
    } finally {
      await runner.close();
    }
  });

  test('a syscalls job far over its 4% budget on a getppid storm is duty-cycled, not throttled, and its counts stay exact or, when counting does not fit, weighted right', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const storm = renamedCopy(workload('storm'), 'ft_duty_storm');
    // Paced: tracing slows each call but not the count; a storm that runs
    // flat out makes fewer calls while attached, which no weight can undo.
    const runStorm = (ms: number, rate: number, uid?: number) => {
      const child = spawn('taskset', ['-c', '1', storm, String(ms), String(rate)], {
        uid,
        gid: uid,
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const done = new Promise<number>((resolve, reject) =>
        child.on('exit', (code) =>
          code === 0
            ? resolve(Number(/total (\d+)/.exec(out)?.[1]))
            : reject(new Error(`storm exit ${code}`)),
        ),
      );
      return { pid: child.pid!, done };
    };
    const rec = new Recorder();
    const runner = new JobRunner(rec, { features, warmupMs: 8000 });
    const driver = runStorm(100_000, 400_000);
    try {
      runner.assign(
        assignment({
          jobId: 'job-duty',
          endUnixMs: Date.now() + 180_000,
          collectors: [{ name: 'syscalls', params: {} }],
          filters: { comm: 'ft_duty_storm' },
          limits: { overheadBudget: 0.04, maxEventsPerSecond: 0 },
          intervalMs: 1000,
        }),
      );
      const cycled = await rec.until(
        (s) => /duty-cycled: syscalls attached 1\/\d+/.test(s.reason),
        30_000,
      );
      // Let the fraction settle, then count a fresh storm of known length (whole periods) under it.
      await new Promise((r) => setTimeout(r, 22_000));
      // As another user, so that its rows (per process, or per (uid, comm, syscall)
      // while detached) are told from the other storm's by uid.
      const countedUid = 62_000 + ((process.pid + 700) % 3000);
      const counted = runStorm(30_000, 200_000, countedUid);
      const calls = await counted.done;
      await new Promise((r) => setTimeout(r, 2500)); // its last interval drains
      const batches = rec.batches.filter((b) => b.jobId === 'job-duty');
      const mine = batches.flatMap((b) =>
        (b.rows as Array<{ uid: number; nr: number; count: number }>)
          .filter((r) => r.uid === countedUid && r.nr === NR_GETPPID)
          .map((r) => ({ count: r.count, weight: b.weight })),
      );
      const weighted = mine.reduce((a, r) => a + r.count * r.weight, 0);
      const weights = [...new Set(mine.map((r) => r.weight))];
      const last = rec.statuses.filter((s) => s.runId === 'job-duty-run').at(-1)!;
      assert.equal(last.state, RunState.RUN_STATE_RUNNING, `still running: ${last.reason}`);
      const frac = Number(/attached 1\/(\d+)/.exec(last.reason || cycled.reason)?.[1]);
      assert.ok(frac >= 2, `status shows the fraction: ${last.reason}`);
      if (weights.every((w) => w === 1)) {
        // Detached, ft_sc_count alone counted every call: the rows are whole.
        assert.equal(weighted, calls, `getppid counted vs made (${last.reason})`);
        assert.match(last.reason, /syscalls still counting every call while detached/);
      } else {
        // Counting every call did not fit the budget at 1/8 or less: turned off, rows
        // weighted 1 / the fraction they were collected under (a power of two).
        assert.ok(
          weights.every((w) => w >= 1 && Number.isInteger(Math.log2(w))),
          `rows carry 1 or 1/fraction: ${weights} (status: 1/${frac})`,
        );
        assert.ok(
          Math.abs(weighted - calls) <= 0.15 * calls,
          `weighted getppid ${weighted.toFixed(0)} vs ${calls} made (weights ${weights}; ${last.reason})`,
        );
        assert.match(last.reason, /rows of syscalls weighted \d+/);
      }
      assert.match(last.reason, /duty-cycled: syscalls attached 1\/\d+ of every 10 s/);
    } finally {
      await runner.close();
      await driver.done.catch(() => undefined);
    }
  });

  test('a syscalls job whose budget cannot be met even at the smallest fraction ends throttled with the figure', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const storm = renamedCopy(workload('storm'), 'ft_duty_storm');
    const child = spawn(storm, ['90000']);
    const rec = new Recorder();
    const runner = new JobRunner(rec, { features, warmupMs: 0 });
    try {
      runner.assign(
        assignment({
          jobId: 'job-tiny',
          endUnixMs: Date.now() + 180_000,
          collectors: [{ name: 'syscalls', params: {} }],
          filters: { comm: 'ft_duty_storm' },
          limits: { overheadBudget: 0.00001, maxEventsPerSecond: 0 },
        }),
      );
      // Before throttling, the agent stops counting calls made while detached and measures again.
      await rec.until((s) => /rows of syscalls weighted 64/.test(s.reason), 50_000);
      // Far over the budget (more than twice): throttled at once, no grace.
      const throttled = await rec.until((s) => s.state === RunState.RUN_STATE_THROTTLED, 60_000);
      assert.ok(
        rec.statuses.every((s) => !/throttled if it stays over/.test(s.reason)),
        'no grace far over the budget',
      );
      assert.match(
        throttled.reason,
        /^overhead \d+\.\d+% of host CPU \(over .* exceeds the budget of 0\.001% even with syscalls attached 1\/64 of the time/,
      );
      assert.ok(throttled.overheadShare > 0.00001, `measured ${throttled.overheadShare}`);
    } finally {
      child.kill();
      await runner.close();
    }
  });

  test('a run that ends within its warm-up above its budget finishes saying why the budget was not enforced', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const storm = renamedCopy(workload('storm'), 'ft_duty_storm');
    const child = spawn(storm, ['50000']);
    const rec = new Recorder();
    const runner = new JobRunner(rec, { features, warmupMs: 60_000 });
    try {
      runner.assign(
        assignment({
          jobId: 'job-short',
          endUnixMs: Date.now() + 4000,
          collectors: [{ name: 'syscalls', params: {} }],
          filters: { comm: 'ft_duty_storm' },
          limits: { overheadBudget: 0.00001, maxEventsPerSecond: 0 },
        }),
      );
      const ended = await rec.until((s) => s.state === RunState.RUN_STATE_FINISHED, 30_000);
      assert.ok(ended.overheadShare > 0.00001, `measured ${ended.overheadShare}`);
      assert.match(
        ended.reason,
        /^overhead \d+\.\d+% is above the budget of 0\.001% but was not enforced: the run ended before its budget was judged \(budgets are judged after a 60 s warm-up/,
      );
    } finally {
      child.kill();
      await runner.close();
    }
  });

  test("a co-located pipeline's CPU counts into the overhead: a busy charged process degrades, then throttles a proc job", async () => {
    // It spins one CPU (half of a 2-CPU host) against a budget of a tenth of one.
    const { rec, close } = await chargedProcJob('job-charged', 60_000, 0.1, 0);
    try {
      const degraded = await rec.until((s) => /proc: forks, clean exits/.test(s.reason), 30_000);
      assert.match(
        degraded.reason,
        /, pipeline \d+\.\d ms above its floor of \d+\.\d ms\) exceeds the budget/,
      );
      // It settles 20 s after the degrade (the pipeline's backlog), then judges 4 windows.
      const throttled = await rec.until((s) => s.state === RunState.RUN_STATE_THROTTLED, 45_000);
      const m =
        /over (\d+\.\d) s on \d+ CPUs: .*, pipeline (\d+\.\d) ms above its floor of (\d+\.\d) ms\)/.exec(
          throttled.reason,
        );
      assert.ok(m, throttled.reason);
      // The spinning process ran most of the window on its CPU (10 ms ticks, a loaded host).
      assert.ok(Number(m[2]) >= 0.4 * Number(m[1]) * 1000, throttled.reason);
      // Its floor was measured while it slept.
      assert.ok(Number(m[3]) < 0.1 * Number(m[1]) * 1000, throttled.reason);
      assert.ok(
        throttled.overheadShare > 0.1 / cpus().length,
        `measured ${throttled.overheadShare}`,
      );
    } finally {
      await close();
    }
  });
  test('a passing excess with nothing left to lower is waited out: the run is not throttled, its reason recovers', async () => {
    // It spins one CPU from 8 s to 40 s, then idles (a storm's aftermath), within twice
    // the budget (0.6 of one CPU).
    const { rec, close } = await chargedProcJob('job-passing', 32_000, 0.6, 60_000);
    try {
      const waiting = await rec.until(
        (s) => /throttled if it stays over for \d+ s more; proc: forks, clean exits/.test(s.reason),
        45_000,
      );
      assert.equal(waiting.state, RunState.RUN_STATE_RUNNING);
      // The spinner stops at 40 s: within budget again, the reason is what is in force.
      const recovered = await rec.until(
        (s) => s.unixMs > waiting.unixMs && /^proc: forks, clean exits/.test(s.reason),
        40_000,
      );
      assert.equal(recovered.state, RunState.RUN_STATE_RUNNING);
      assert.ok(
        rec.statuses.every((s) => s.state !== RunState.RUN_STATE_THROTTLED),
        'never throttled',
      );
    } finally {
      await close();
    }
  });

  test('limits.max_events_per_second drops the rows above it and counts them lost, with the cause', async () => {
    features ??= await probeKernelFeatures(bpfObjectPath('features'));
    const w = await Workload.start(workload('syscall_workload'), ['getppid', '5000']);
    const rec = new Recorder();
    const runner = new JobRunner(rec, { features, hookCostNs: 0 });
    try {
      const started = Date.now();
      runner.assign(
        assignment({
          jobId: 'job-rate',
          collectors: [{ name: 'syscall_trace', params: {} }],
          filters: { pid: w.pid },
          limits: { overheadBudget: 0, maxEventsPerSecond: 20 },
        }),
      );
      await rec.until((s) => s.jobId === 'job-rate' && s.state === RunState.RUN_STATE_RUNNING);
      await w.run();
      await new Promise((r) => setTimeout(r, 500));
      runner.cancel('job-rate', 'test over');
      const last = await rec.until(
        (s) => s.jobId === 'job-rate' && s.state === RunState.RUN_STATE_CANCELLED,
      );
      const seconds = (Date.now() - started) / 1000;
      const sent = rec.batches.reduce((n, b) => n + b.rows.length, 0);
      const lost = rec.batches.reduce((n, b) => n + b.lost, 0);
      // One second's allowance up front (the interval is 200 ms), then 20 a second.
      assert.ok(sent <= 20 + 20 * seconds, `sent ${sent} rows in ${seconds.toFixed(1)} s`);
      assert.ok(lost >= 5000 - sent, `lost ${lost} of at least 5000 calls, sent ${sent}`);
      assert.equal(last.eventsSent, sent);
      assert.ok(
        rec.statuses.some((s) =>
          /rows above limits.max_events_per_second \(20\/s\) are dropped/.test(s.reason),
        ),
        'the cause is reported',
      );
    } finally {
      await w.stop();
      await runner.close();
    }
  });
});
