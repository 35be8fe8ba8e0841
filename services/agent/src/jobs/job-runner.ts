// SPDX-License-Identifier: Apache-2.0
/**
 * Runs assigned jobs on this host through the collectors: validates them
 * against this kernel, subscribes to the shared collector instances for the
 * job's window, reports state and counts, and keeps each job within its
 * overhead budget.
 *
 * Overhead of a run = kernel run time of the programs of the collector
 * instances it uses (BPF_ENABLE_STATS, sampled in a window of each period by
 * the CollectorHost, less what the statistics themselves add to a run) +
 * their program runs x the per-hook fixed cost calibrated at start (the
 * tracepoint path statistics do not see) + the agent's own CPU time + what
 * co-located pipeline processes (`chargedCpuUs`: the ingest and embedded store
 * of `fleettrace up`, which work on every row the host's jobs send) spend
 * above their floor, as a share of the host's CPU. The floor is the lowest
 * rate the pipeline ran at during the run (median of the budget windows): what
 * running the pipeline costs with the least traffic, which stopping the job
 * would not save. A shared instance, the agent and the pipeline count fully
 * toward every job using them.
 *
 * Over budget, a run degrades: its duty-cyclable collectors (hooks that run
 * on every event of the host) are attached for a smaller fraction of each
 * period, chosen from the measured cost so that the run fits (a power of two,
 * down to MIN_DUTY_FRACTION; rows are weighted 1 / fraction), and collectors
 * with a rate lower it. Only when the smallest setting still does not fit is
 * the run stopped and reported THROTTLED with the measured figure. Well under
 * budget again, the fraction doubles back.
 *
 * A job's limits.max_events_per_second caps the rows each run sends (see
 * RowRateLimit); rows above it are dropped and counted in events_lost, with
 * the cause in the run's reason.
 */
import { cpus } from 'node:os';
import {
  bpfObjectPath,
  collectors as registry,
  localHost,
  missingFeatures,
  probeKernelFeatures,
  validateFilters,
  type CollectorDefinition,
  type DrainResult,
  type Filters,
  type HostContext,
  type KernelFeatureReport,
} from '@fleettrace/collectors';
import { RunState, type JobAssignment, type JobStatus } from '@fleettrace/proto';
import {
  CollectorHost,
  DUTY_PERIOD_MS,
  type InstanceCost,
  type SubscriptionHandle,
} from './collector-host';
import type { JobExecutor, JobExecutorEvents } from './job-executor';
import { calibrateHookCost, type HookCost } from './hook-cost';
import { RowRateLimit } from './row-rate-limit';

export interface JobRunnerOptions {
  /** a feature report from an earlier probe; probed on first use otherwise */
  features?: KernelFeatureReport;
  host?: HostContext;
  /** how often budgets are checked and statuses refreshed (default 1 s) */
  checkIntervalMs?: number;
  /** per-hook fixed cost in ns; calibrated on first use otherwise */
  hookCostNs?: number;
  /** what run-time statistics add to every run, ns (with hookCostNs; default 0) */
  statsSelfNs?: number;
  /**
   * Cumulative CPU µs of processes whose work on this host follows from the
   * jobs' rows (ChargedProcesses.cpuUs): counted into every run's overhead.
   */
  chargedCpuUs?: () => number;
  /**
   * Processes no job traces (at most 4): the agent passes its own pid and
   * those it charges. Their CPU is in every run's overhead figure instead.
   */
  skipPids?: number[];
  /**
   * Routine statuses (counters, overhead) at most this often; a change of
   * state or reason is sent at once (default 5 s).
   */
  statusIntervalMs?: number;
  /** how long ended runs stay in runs() (default 10 min) */
  keepEndedMs?: number;
  /**
   * A run's first seconds pay one-off costs (symbol tables of every running
   * process, first drains): budgets are judged only after this long
   * (default DEFAULT_WARMUP_MS), on measurements taken after it.
   */
  warmupMs?: number;
  /**
   * With nothing left to lower, a run at most THROTTLE_GRACE_RATIO over its
   * budget is throttled only once it has been over it this long without a
   * break (default THROTTLE_AFTER_MS).
   */
  throttleAfterMs?: number;
}

interface Run {
  assignment: JobAssignment;
  status: JobStatus;
  filters: Filters;
  collectors: Array<{ def: CollectorDefinition; params: unknown }>;
  handles: SubscriptionHandle[];
  /** why rows of this run were not published (events.undeliverable), kept for its final status */
  undeliverable?: string;
  startTimer?: NodeJS.Timeout;
  endTimer?: NodeJS.Timeout;
  /** the last status sent (see report()) */
  lastEmitted?: { at: number; state: RunState; reason: string };
  /** rates lowered (degrade()) already */
  degraded: boolean;
  /** until when counting while detached stays off after the runner turned it off (unix ms) */
  countingOffUntil?: number;
  /** since when the run has been over budget with nothing left to lower (see throttleAfterMs) */
  overSince?: number;
  /** what degrading its collectors did (CollectorSession.degrade), for its reasons */
  degradeActions?: string[];
  /** duty fraction this run asks of its duty-cyclable collectors */
  fraction: number;
  /** measurements before this time still include the previous fraction: not judged */
  settleUntil: number;
  lastCost?: {
    at: number;
    cost: InstanceCost;
    agentCpuUs: number;
    chargedCpuUs: number;
    dutyNs?: number;
    countingNs?: number;
  };
  /** when the run started running; its budget is judged from startedAt + warmup on */
  startedAt?: number;
  /** the last few measured intervals; budgets are judged over their sum */
  windows: CostWindow[];
  /** whether the budget was ever judged (a run that ends in its warm-up never is) */
  judged?: boolean;
  /** the lowest pipeline rate (CPU ns per ns) seen over a full set of windows, see chargedCpuUs */
  pipelineFloor: number;
  /** limits.max_events_per_second, when the job set one */
  rateLimit?: RowRateLimit;
  ending: boolean;
}

interface CostWindow {
  wallNs: number;
  /** kernel cost to the workloads (see JobRunner.workloadNs) */
  kernelNs: number;
  /** the part of kernelNs from duty-cyclable instances' hooks while attached */
  dutyNs: number;
  /** the part of kernelNs from their count-only programs while detached (does not shrink with the fraction) */
  countingNs: number;
  agentNs: number;
  /** co-located pipeline processes (JobRunnerOptions.chargedCpuUs) */
  chargedNs: number;
}

/**
 * Budgets are judged over the last BUDGET_WINDOWS checks (at least
 * MIN_WINDOWS), so a one-off cost such as parsing a large binary's symbols
 * does not stop a job that is cheap on average.
 */
/**
 * 20 s: the first three or four drains (every 5 s) symbolize every process that was
 * running when the run started; at 10 s the third one fell in a judged window and degraded
 * the always-on job of an idle host (bench/churn).
 */
const DEFAULT_WARMUP_MS = 20_000;
/**
 * 60 s: after a storm of short processes (100,000 in 40 s) the agent's own
 * work on what the storm left (its last rows, their users, cgroups and
 * symbols) kept a degraded always-on job just over its 2% budget for 20 to
 * 30 s, and a throttle then ended the host's tracing for good (bench/churn).
 * A run over budget (by at most THROTTLE_GRACE_RATIO) for a minute with
 * nothing left to lower is throttled.
 */
const THROTTLE_AFTER_MS = 60_000;
/** Only an excess up to this multiple of the budget is waited out; a larger one throttles at once. */
const THROTTLE_GRACE_RATIO = 2;
const BUDGET_WINDOWS = 5;
const MIN_WINDOWS = 4;
/**
 * Counting while detached (a count-only program on every call of the host
 * while the hooks are detached) is turned off, over budget, when it alone
 * would take the budget (less BUDGET_HEADROOM) with the hooks detached
 * throughout, so that no fraction fits with it, or once the hooks are at the
 * smallest fraction (before the collectors are degraded or the run
 * throttled); it stays off for COUNTING_OFF_MS. Otherwise the fraction is
 * lowered first: exact totals are worth more than latency samples.
 */
const COUNTING_OFF_MS = 10 * 60_000;

/** Smallest duty fraction: attached 1/64 of each period (156 ms of 10 s). */
export const MIN_DUTY_FRACTION = 1 / 64;
/** Aim this far under the budget when choosing a fraction, so noise does not flap it. */
const BUDGET_HEADROOM = 0.7;
/**
 * What attaching and detaching one collector's programs costs the agent
 * before it was measured (7-25 ms per tracepoint program measured here).
 */
const SWITCH_PRIOR_US = 20_000;
/** Routine run statuses at most this often (JobRunnerOptions.statusIntervalMs). */
const DEFAULT_STATUS_INTERVAL_MS = 5000;

const ENDED = new Set([
  RunState.RUN_STATE_FINISHED,
  RunState.RUN_STATE_FAILED,
  RunState.RUN_STATE_THROTTLED,
  RunState.RUN_STATE_CANCELLED,
]);

export class JobRunner implements JobExecutor {
  private readonly runs_ = new Map<string, Run>();
  private readonly collectorHost: CollectorHost;
  private readonly ncpus = cpus().length;
  private readonly checkTimer: NodeJS.Timeout;
  private features: Promise<KernelFeatureReport>;
  private hookCost: Promise<HookCost>;
  private agentCpuSeen = process.cpuUsage();
  private chargedCpuSeen = 0;
  private overheadSeen = { at: Date.now(), cost: 0 };
  private closed = false;

  constructor(
    private readonly events: JobExecutorEvents,
    private readonly opts: JobRunnerOptions = {},
  ) {
    this.collectorHost = new CollectorHost(opts.host ?? localHost(), opts.skipPids ?? []);
    this.chargedCpuSeen = this.chargedCpuUs();
    this.features = opts.features
      ? Promise.resolve(opts.features)
      : probeKernelFeatures(bpfObjectPath('features'));
    this.hookCost =
      opts.hookCostNs !== undefined
        ? Promise.resolve({ perRunNs: opts.hookCostNs, statsSelfNs: opts.statsSelfNs ?? 0 })
        : calibrateHookCost(bpfObjectPath('hook_floor'));
    this.checkTimer = setInterval(() => void this.check(), opts.checkIntervalMs ?? 1000);
  }

  /** The calibrated per-hook fixed cost, ns. */
  async hookCostNs(): Promise<number> {
    return (await this.hookCost).perRunNs;
  }

  /** The calibration: per-run hook cost and what statistics add to a run. */
  hookCalibration(): Promise<HookCost> {
    return this.hookCost;
  }

  /** Collectors with a kernel instance loaded now (one per collector, shared by jobs). */
  activeCollectors(): string[] {
    return this.collectorHost.active();
  }

  assign(assignment: JobAssignment): void {
    if (this.closed || this.runs_.has(assignment.runId)) return;
    const status: JobStatus = {
      jobId: assignment.jobId,
      runId: assignment.runId,
      state: RunState.RUN_STATE_PENDING,
      reason: '',
      eventsSent: 0,
      eventsLost: 0,
      overheadShare: 0,
      unixMs: Date.now(),
      eventsAcked: 0,
    };
    const run: Run = {
      assignment,
      status,
      filters: {},
      collectors: [],
      handles: [],
      degraded: false,
      fraction: 1,
      settleUntil: 0,
      windows: [],
      pipelineFloor: Infinity,
      ...(assignment.limits?.maxEventsPerSecond
        ? {
            rateLimit: new RowRateLimit(
              assignment.limits.maxEventsPerSecond,
              assignment.intervalMs || 1000,
            ),
          }
        : {}),
      ending: false,
    };
    this.runs_.set(assignment.runId, run);
    this.emit(run);
    void this.prepare(run);
  }

  private async prepare(run: Run): Promise<void> {
    const a = run.assignment;
    try {
      const report = await this.features;
      if (a.collectors.length === 0) throw new Error('collectors: the job names no collector');
      run.collectors = a.collectors.map((spec, i) => {
        const def = registry().get(spec.name);
        if (!def)
          throw new Error(
            `collectors[${i}].name: unknown collector ${JSON.stringify(spec.name)} on this agent`,
          );
        const missing = missingFeatures(report, def.requires);
        if (missing.length) {
          const why = missing
            .map((f) => `${f} (${report.features[f].reason ?? 'absent'})`)
            .join(', ');
          throw new Error(
            `collector ${def.name} cannot run on kernel ${report.kernel}: missing ${why}`,
          );
        }
        return { def, params: def.parseParams({ ...spec.params }, `collectors[${i}].params`) };
      });
      const f = a.filters ?? {};
      run.filters = validateFilters(
        { pid: f.pid, uid: f.uid, comm: f.comm || undefined, cgroup: f.cgroup || undefined },
        'filters',
      );
    } catch (err) {
      this.end(run, RunState.RUN_STATE_FAILED, (err as Error).message);
      return;
    }
    const now = Date.now();
    if (a.endUnixMs && a.endUnixMs <= now) {
      this.end(
        run,
        RunState.RUN_STATE_FINISHED,
        'the job window had closed before the run could start',
      );
      return;
    }
    const delay = Math.max(0, (a.startUnixMs || now) - now);
    run.startTimer = setTimeout(() => void this.start(run), delay);
  }

  private async start(run: Run): Promise<void> {
    if (run.ending) return;
    const a = run.assignment;
    const intervalMs = a.intervalMs || 1000;
    try {
      for (const [i, c] of run.collectors.entries()) {
        const handle = await this.collectorHost.subscribe({
          collector: c.def,
          params: c.params,
          filters: run.filters,
          intervalMs,
          onData: (result, fraction) => this.onData(run, c.def.name, result, fraction),
          onError: (err) =>
            this.events.onStatus({
              ...run.status,
              reason: `collectors[${i}] (${c.def.name}): ${err.message}`,
            }),
        });
        run.handles.push(handle);
        if (run.ending) break;
      }
    } catch (err) {
      await this.release(run);
      this.end(run, RunState.RUN_STATE_FAILED, (err as Error).message);
      return;
    }
    if (run.ending) return;
    run.lastCost = {
      at: Date.now(),
      cost: this.costOf(run),
      agentCpuUs: cpuUs(process.cpuUsage()),
      chargedCpuUs: this.chargedCpuUs(),
    };
    run.status.state = RunState.RUN_STATE_RUNNING;
    // What a collector cannot do here (hardware counters without a PMU) is said with the run.
    const notes = run.handles.flatMap((h) => h.notes.map((n) => `${h.collector}: ${n}`));
    if (notes.length > 0 && !run.status.reason) run.status.reason = notes.join('; ');
    // Without this every check counted as warm-up and no budget was ever enforced.
    run.startedAt = run.lastCost.at;
    this.emit(run);
    const endIn = a.endUnixMs ? a.endUnixMs - Date.now() : undefined;
    if (endIn !== undefined) {
      run.endTimer = setTimeout(
        () => void this.stop(run, RunState.RUN_STATE_FINISHED, ''),
        Math.max(0, endIn),
      );
    }
  }

  private onData(
    run: Run,
    collector: string,
    result: DrainResult<unknown>,
    dutyFraction: number,
  ): void {
    let rows = result.rows;
    let lost = result.lost;
    if (run.rateLimit) {
      const allowed = run.rateLimit.take(rows.length);
      if (allowed < rows.length) {
        lost += rows.length - allowed;
        rows = rows.slice(0, allowed);
        // The cause of the loss, once: the counts are in events_lost.
        if (!run.status.reason)
          run.status.reason = `rows above limits.max_events_per_second (${run.rateLimit.perSecond}/s) are dropped and counted as lost`;
      }
    }
    const undeliverable = rows.length ? this.events.undeliverable?.() : undefined;
    if (undeliverable) {
      // Rows with nowhere to go are lost, never "sent": a run must not finish with "0 lost" for them.
      lost += rows.length;
      rows = [];
      run.undeliverable = undeliverable;
      if (!run.status.reason) run.status.reason = undeliverable;
    }
    run.status.eventsSent += rows.length;
    run.status.eventsLost += lost;
    // a new reason goes out at once (report() sends changes of reason), with the counts
    this.report(run);
    this.events.onRows?.({
      jobId: run.assignment.jobId,
      runId: run.assignment.runId,
      collector,
      rows,
      lost,
      // Sums stay unbiased: a schedule's 1/p times the duty cycle's 1/fraction.
      weight: (run.assignment.weight || 1) / dutyFraction,
    });
  }

  private costOf(run: Run): InstanceCost {
    const seen = new Set<SubscriptionHandle>();
    let runTimeNs = 0;
    let runCount = 0;
    for (const h of run.handles) {
      if (seen.has(h)) continue;
      seen.add(h);
      const c = h.cost();
      runTimeNs += c.runTimeNs;
      runCount += c.runCount;
    }
    return { runTimeNs, runCount };
  }

  /**
   * Kernel cost the workloads pay for `hooks` runs measured at `bpfNs`: the
   * statistics' own clock reads out, the hook path they do not see in.
   */
  private static workloadNs(bpfNs: number, hooks: number, cal: HookCost): number {
    return Math.max(0, bpfNs - hooks * cal.statsSelfNs) + hooks * cal.perRunNs;
  }

  /** Measures every running run's overhead and enforces budgets. */
  private async check(): Promise<void> {
    const cal = await this.hookCost;
    const now = Date.now();
    const agentCpuUs = cpuUs(process.cpuUsage());
    const chargedCpuUs = this.chargedCpuUs();
    for (const run of this.runs_.values()) {
      if (run.status.state !== RunState.RUN_STATE_RUNNING || run.ending || !run.lastCost) continue;
      const cost = this.costOf(run);
      const wallNs = (now - run.lastCost.at) * 1e6;
      // Judge over a full interval: a run that started just before this check has too short a window.
      if (wallNs < 0.9 * (this.opts.checkIntervalMs ?? 1000) * 1e6) continue;
      const dutyTotal = JobRunner.dutyCost(run, cal);
      // Counters restart when an instance is replaced; a negative delta means "unknown", skip.
      const bpfNs = cost.runTimeNs - run.lastCost.cost.runTimeNs;
      const hooks = cost.runCount - run.lastCost.cost.runCount;
      const dutyNs = dutyTotal.hooks - (run.lastCost.dutyNs ?? NaN);
      const countingNs = dutyTotal.counting - (run.lastCost.countingNs ?? NaN);
      const agentNs = (agentCpuUs - run.lastCost.agentCpuUs) * 1000;
      const chargedNs = Math.max(0, chargedCpuUs - run.lastCost.chargedCpuUs) * 1000;
      run.lastCost = {
        at: now,
        cost,
        agentCpuUs,
        chargedCpuUs,
        dutyNs: dutyTotal.hooks,
        countingNs: dutyTotal.counting,
      };
      // NaN: the first check of a run has no duty-cycled baseline yet.
      if (bpfNs < 0 || hooks < 0 || !(dutyNs >= 0) || !(countingNs >= 0)) continue;
      const kernelNs = JobRunner.workloadNs(bpfNs, hooks, cal);
      const warming = now - (run.startedAt ?? now) < (this.opts.warmupMs ?? DEFAULT_WARMUP_MS);
      if (warming || now < run.settleUntil) {
        // Reported, not judged: the figure includes one-off start-up work (the pipeline's
        // floor is not known yet, so only what it spent above a known one counts).
        const above = Number.isFinite(run.pipelineFloor)
          ? Math.max(0, chargedNs - run.pipelineFloor * wallNs)
          : 0;
        run.status.overheadShare = (kernelNs + agentNs + above) / (wallNs * this.ncpus);
        this.report(run);
        continue;
      }
      run.windows.push({
        wallNs,
        kernelNs,
        dutyNs: Math.min(dutyNs, kernelNs),
        countingNs: Math.min(countingNs, Math.max(0, kernelNs - dutyNs)),
        agentNs,
        chargedNs,
      });
      if (run.windows.length > BUDGET_WINDOWS) run.windows.shift();
      const sum = run.windows.reduce(
        (a, w) => ({
          wallNs: a.wallNs + w.wallNs,
          kernelNs: a.kernelNs + w.kernelNs,
          dutyNs: a.dutyNs + w.dutyNs,
          countingNs: a.countingNs + w.countingNs,
          agentNs: a.agentNs + w.agentNs,
        }),
        { wallNs: 0, kernelNs: 0, dutyNs: 0, countingNs: 0, agentNs: 0 },
      );
      // The pipeline's work comes in bursts (an embedded store merges parts now and then):
      // its median rate over the windows, so one burst does not degrade a run on an idle host.
      const pipelineRate = median(run.windows.map((w) => w.chargedNs / w.wallNs));
      // Its floor from the windows' total, not their median: charged CPU is read in 10 ms
      // ticks, and an idle pipeline (~15 ms a second) reads 0 in most 1 s windows, which made
      // the floor 0 and charged all of the pipeline's idle work to the run.
      const meanRate = run.windows.reduce((a, w) => a + w.chargedNs, 0) / sum.wallNs;
      if (run.windows.length >= MIN_WINDOWS)
        run.pipelineFloor = Math.min(run.pipelineFloor, meanRate);
      const floor = Number.isFinite(run.pipelineFloor) ? run.pipelineFloor : 0;
      const pipelineNs = Math.max(0, pipelineRate - floor) * sum.wallNs;
      const hostNs = sum.wallNs * this.ncpus;
      const share = (sum.kernelNs + sum.agentNs + pipelineNs) / hostNs;
      run.status.overheadShare = share;
      const budget = run.assignment.limits?.overheadBudget ?? 0;
      if (budget <= 0 || run.windows.length < MIN_WINDOWS) {
        this.report(run);
        continue;
      }
      run.judged = true;
      const measured =
        `overhead ${pct(share)} of host CPU` +
        ` (over ${(sum.wallNs / 1e9).toFixed(1)} s on ${this.ncpus} CPUs: kernel ${ms(sum.kernelNs)}` +
        ` of which duty-cycled hooks ${ms(sum.dutyNs)}` +
        (sum.countingNs > 0 ? ` and count-only while detached ${ms(sum.countingNs)}` : '') +
        `, agent ${ms(sum.agentNs)}` +
        (this.opts.chargedCpuUs
          ? `, pipeline ${ms(pipelineNs)} above its floor of ${ms(floor * sum.wallNs)})`
          : ')');
      const dutyHandles = run.handles.filter((h) => h.dutyCyclable);
      // The fraction in force (another job on a shared instance may ask for less).
      const current = Math.min(run.fraction, ...dutyHandles.map((h) => h.dutyFraction()));
      // What the duty-cycled hooks would cost at full time, and what does not scale with the
      // fraction (a count-only program's cost, which grows as it falls, among it).
      const dutyFull = sum.dutyNs / hostNs / current;
      const fixed = share - sum.dutyNs / hostNs;
      // What re-attaching every period costs the agent, which a fraction of 1 does not pay.
      const switchCost = this.switchShare(dutyHandles);
      if (share > budget) {
        const counting = dutyHandles.filter((h) => h.countsWhileDetached());
        // The count-only programs' cost with the hooks detached throughout.
        const countingFull = current < 1 ? sum.countingNs / hostNs / (1 - current) : 0;
        const lastStep = current <= MIN_DUTY_FRACTION;
        if (counting.length > 0 && (countingFull >= budget * BUDGET_HEADROOM || lastStep)) {
          // Over budget with the count-only program a large part of the cost (a
          // syscall-heavy server: it runs on every call of the host), or with nothing
          // else left to lower before a throttle. Calls made while detached are no longer
          // counted, the rows are weighted again, and counting stays off for
          // COUNTING_OFF_MS (no see-saw).
          for (const h of counting) await h.setCountWhileDetached(false);
          run.countingOffUntil = Date.now() + COUNTING_OFF_MS;
          // It stops at once (no period to wait for): fresh windows measure without it.
          run.windows = [];
          run.status.reason =
            `${measured} exceeds the budget of ${pct(budget)}; ` + this.dutyReason(run);
          this.emit(run);
          continue;
        }
        let next = current;
        // Duty cycling pays for itself only when what the hooks would save exceeds what
        // re-attaching them costs (on an idle host it does not: the excess is elsewhere).
        const worthIt = current < 1 || dutyFull * (current - MIN_DUTY_FRACTION) > switchCost;
        if (dutyHandles.length > 0 && current > MIN_DUTY_FRACTION && worthIt) {
          // Even when the estimate says the smallest fraction will not fit, go there and
          // measure: part of the agent's work shrinks with the hooks' events, and throttling
          // is the last answer, taken on a measurement, not on an extrapolation. A window
          // that saw no duty-cycled cost (the hooks were detached throughout) gives no
          // estimate: straight to the smallest fraction.
          const fits = dutyFull > 0 ? (budget * BUDGET_HEADROOM - fixed) / dutyFull : 0;
          next = Math.max(MIN_DUTY_FRACTION, Math.min(current / 2, powerOfTwoAtMost(fits)));
        }
        if (dutyHandles.length > 0 && next >= MIN_DUTY_FRACTION && next < current) {
          this.setFraction(run, next);
          run.windows = [];
          run.status.reason =
            `${measured} exceeds the budget of ${pct(budget)}; ` + this.dutyReason(run);
          this.emit(run);
          continue;
        }
        if (!run.degraded) {
          run.degraded = true;
          const actions = run.handles
            .map((h) => h.degrade())
            .filter((x): x is string => x !== undefined);
          run.degradeActions = actions;
          if (actions.length > 0) {
            // Judge the lowered rates on their own measurements; with a charged pipeline,
            // after the rows of the old ones are through it (under churn, seconds of them).
            run.windows = [];
            if (this.opts.chargedCpuUs) run.settleUntil = Date.now() + 2 * DUTY_PERIOD_MS + 100;
            run.status.reason = `${measured} exceeds the budget of ${pct(budget)}; ${actions.join('; ')}`;
            this.emit(run);
            continue;
          }
        }
        const names = dutyHandles.map((h) => h.collector).join(', ');
        const smallest =
          dutyHandles.length === 0
            ? ''
            : run.fraction <= MIN_DUTY_FRACTION
              ? ` even with ${names} attached ${fractionText(run.fraction)} of the time`
              : ` and would not fit with ${names} attached ${fractionText(MIN_DUTY_FRACTION)} of the time`;
        run.overSince ??= now;
        const grace = share <= THROTTLE_GRACE_RATIO * budget;
        const wait = (this.opts.throttleAfterMs ?? THROTTLE_AFTER_MS) - (now - run.overSince);
        if (grace && wait > 0) {
          // Nothing left to lower: a passing excess (the agent's own work after a storm)
          // is waited out; one that lasts throttles, as does one far over the budget.
          run.status.reason = [
            `${measured} exceeds the budget of ${pct(budget)}${smallest}`,
            `throttled if it stays over for ${Math.ceil(wait / 1000)} s more`,
            this.dutyReason(run),
            ...(run.degradeActions ?? []),
          ]
            .filter(Boolean)
            .join('; ');
          this.report(run);
          continue;
        }
        await this.stop(
          run,
          RunState.RUN_STATE_THROTTLED,
          `${measured} exceeds the budget of ${pct(budget)}${smallest}`,
        );
        continue;
      }
      if (run.overSince !== undefined) {
        // Back within budget before a throttle: the reason says what is in force.
        run.overSince = undefined;
        run.status.reason = [this.dutyReason(run), ...(run.degradeActions ?? [])]
          .filter(Boolean)
          .join('; ');
      }
      const back = Math.min(1, current * 2);
      if (
        current < 1 &&
        fixed - (back === 1 ? Math.min(fixed, switchCost) : 0) + dutyFull * back <
          budget * BUDGET_HEADROOM * 0.8
      ) {
        // Well under budget at twice the fraction: give the hooks more time back, and
        // at full time the counting while detached a throttle had turned off.
        this.setFraction(run, back);
        if (back === 1 && Date.now() >= (run.countingOffUntil ?? 0))
          for (const h of dutyHandles)
            if (h.canCountWhileDetached && !h.countsWhileDetached())
              await h.setCountWhileDetached(true);
        run.windows = [];
        run.status.reason = this.dutyReason(run);
      }
      this.report(run);
    }
  }

  /**
   * A routine status after a check: sent when the state or the reason
   * changed, otherwise at most every statusIntervalMs (counters and the
   * overhead figure only: each status is a write on the controller, and on
   * an idle host those were most of what fleettrace did).
   */
  private report(run: Run): void {
    const last = run.lastEmitted;
    if (
      last &&
      last.state === run.status.state &&
      last.reason === run.status.reason &&
      Date.now() - last.at < (this.opts.statusIntervalMs ?? DEFAULT_STATUS_INTERVAL_MS)
    )
      return;
    this.emit(run);
  }

  /**
   * The share of the host that attaching and detaching `handles` once per
   * duty period costs the agent: the latest measured pair per instance, a
   * prior before the first.
   */
  private switchShare(handles: SubscriptionHandle[]): number {
    let us = 0;
    for (const h of new Set(handles)) us += h.switchPairUs() ?? SWITCH_PRIOR_US;
    return (us * 1000) / (DUTY_PERIOD_MS * 1e6) / this.ncpus;
  }

  private setFraction(run: Run, fraction: number): void {
    run.fraction = fraction;
    // The instance applies it at its next period; judge only full periods after that.
    run.settleUntil = Date.now() + 2 * DUTY_PERIOD_MS + 100;
    for (const h of run.handles) if (h.dutyCyclable) h.setDutyFraction(fraction);
  }

  private dutyReason(run: Run): string {
    const cycled = run.handles.filter((h) => h.dutyCyclable);
    const weighted = cycled.filter((h) => !h.countsWhileDetached()).map((h) => h.collector);
    const counting = cycled.filter((h) => h.countsWhileDetached()).map((h) => h.collector);
    if (run.fraction >= 1) return '';
    const parts: string[] = [];
    if (weighted.length > 0)
      parts.push(`rows of ${weighted.join(', ')} weighted ${(1 / run.fraction).toFixed(0)}`);
    if (counting.length > 0)
      parts.push(
        `${counting.join(', ')} still counting every call while detached (latency timed in the attached part only)`,
      );
    return (
      `duty-cycled: ${cycled.map((h) => h.collector).join(', ')} attached ${fractionText(run.fraction)} of every ` +
      `${DUTY_PERIOD_MS / 1000} s (${parts.join('; ')})`
    );
  }

  /**
   * Estimated cumulative kernel cost (workload ns) of this run's
   * duty-cyclable instances: their hooks while attached, and their count-only
   * programs while detached.
   */
  private static dutyCost(run: Run, cal: HookCost): { hooks: number; counting: number } {
    let hooks = 0;
    let counting = 0;
    for (const h of new Set(run.handles)) {
      if (!h.dutyCyclable) continue;
      const c = h.cost();
      const k = h.countingCost();
      const countingNs = JobRunner.workloadNs(k.runTimeNs, k.runCount, cal);
      hooks += JobRunner.workloadNs(c.runTimeNs, c.runCount, cal) - countingNs;
      counting += countingNs;
    }
    return { hooks, counting };
  }

  cancel(jobId: string, reason: string): void {
    for (const run of this.runs_.values()) {
      if (run.assignment.jobId === jobId && !ENDED.has(run.status.state)) {
        void this.stop(run, RunState.RUN_STATE_CANCELLED, reason || 'cancelled');
      }
    }
  }

  private async stop(run: Run, state: RunState, reason: string): Promise<void> {
    if (run.ending) return;
    run.ending = true;
    if (run.startTimer) clearTimeout(run.startTimer);
    if (run.endTimer) clearTimeout(run.endTimer);
    await this.release(run);
    this.end(run, state, reason);
  }

  private async release(run: Run): Promise<void> {
    const handles = run.handles.splice(0);
    for (const h of handles) {
      try {
        await h.unsubscribe();
      } catch (err) {
        this.events.onStatus({ ...run.status, reason: `detaching: ${(err as Error).message}` });
      }
    }
  }

  private end(run: Run, state: RunState, reason: string): void {
    run.ending = true;
    run.status.state = state;
    // A run that finished with rows it could not publish says why in its final status,
    // and one whose figure is above its budget says why nothing was done about it.
    run.status.reason =
      reason ||
      (state === RunState.RUN_STATE_FINISHED
        ? (run.undeliverable ?? this.unjudgedReason(run))
        : '');
    this.emit(run);
    setTimeout(
      () => this.runs_.delete(run.assignment.runId),
      this.opts.keepEndedMs ?? 600_000,
    ).unref();
  }

  /**
   * Why a finished run's overhead figure is above its budget although nothing
   * throttled it: budgets are judged only after the warm-up, whose figure
   * holds the one-off start-up work. '' when there is nothing to explain.
   */
  private unjudgedReason(run: Run): string {
    const budget = run.assignment.limits?.overheadBudget ?? 0;
    if (budget <= 0 || run.judged || run.status.overheadShare <= budget) return '';
    const warmupS = (this.opts.warmupMs ?? DEFAULT_WARMUP_MS) / 1000;
    return (
      `overhead ${pct(run.status.overheadShare)} is above the budget of ${pct(budget)} but was not enforced: ` +
      `the run ended before its budget was judged (budgets are judged after a ${warmupS} s warm-up, ` +
      `whose figure includes one-off start-up work: loading and attaching programs, reading symbol tables)`
    );
  }

  private emit(run: Run): void {
    run.status.unixMs = Date.now();
    run.lastEmitted = { at: run.status.unixMs, state: run.status.state, reason: run.status.reason };
    this.events.onStatus({ ...run.status });
  }

  runs(): JobStatus[] {
    return [...this.runs_.values()].map((r) => ({ ...r.status }));
  }

  acknowledged(jobId: string, runId: string, rows: number): void {
    const run = this.runs_.get(runId);
    if (!run || run.assignment.jobId !== jobId) return;
    run.status.eventsAcked = Math.min(run.status.eventsSent, run.status.eventsAcked + rows);
    // After the end the last acknowledgements are the run's final figures: sent at once.
    if (ENDED.has(run.status.state)) this.emit(run);
    else this.report(run);
  }

  overheadShare(): number {
    const now = Date.now();
    const cpu = process.cpuUsage();
    const charged = this.chargedCpuUs();
    const agentNs =
      (cpuUs(cpu) - cpuUs(this.agentCpuSeen) + Math.max(0, charged - this.chargedCpuSeen)) * 1000;
    this.agentCpuSeen = cpu;
    this.chargedCpuSeen = charged;
    let bpfNs = 0;
    for (const run of this.runs_.values()) if (run.lastCost) bpfNs += run.lastCost.cost.runTimeNs;
    const delta = Math.max(0, bpfNs - this.overheadSeen.cost);
    const wallNs = (now - this.overheadSeen.at) * 1e6;
    this.overheadSeen = { at: now, cost: bpfNs };
    return wallNs > 0 ? (delta + agentNs) / (wallNs * this.ncpus) : 0;
  }

  private chargedCpuUs(): number {
    return this.opts.chargedCpuUs?.() ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checkTimer);
    for (const run of this.runs_.values()) {
      if (!ENDED.has(run.status.state))
        await this.stop(run, RunState.RUN_STATE_CANCELLED, 'agent stopping');
    }
    await this.collectorHost.close();
  }
}

const cpuUs = (u: NodeJS.CpuUsage) => u.user + u.system;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 3 : 2)}%`;
const ms = (ns: number) => `${(ns / 1e6).toFixed(1)} ms`;
/** The largest power of two <= x (x > 0), as a fraction at most 1. */
const powerOfTwoAtMost = (x: number) => (x >= 1 ? 1 : x > 0 ? 2 ** Math.floor(Math.log2(x)) : 0);
const fractionText = (f: number) => (f >= 1 ? 'all' : `1/${Math.round(1 / f)}`);
