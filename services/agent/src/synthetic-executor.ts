// SPDX-License-Identifier: Apache-2.0
/**
 * A JobExecutor with no kernel behind it, for simulated agents (scale and
 * fault tests of the control plane): it accepts every assignment, reports
 * RUNNING at once, counts a steady rate of fake events each interval,
 * finishes at the run's end and honours cancel at once. It never loads BPF.
 */
import { RunState, type JobAssignment, type JobStatus } from '@fleettrace/proto';
import type { JobExecutor, JobExecutorEvents } from './jobs/job-executor';

export interface SyntheticExecutorOptions {
  /** fake events per second per collector (default 100) */
  eventsPerSecond?: number;
  /** the share of host CPU each running run pretends to cost (default 0.0001) */
  overheadPerRun?: number;
  /** how long ended runs stay in runs() (default 10 min) */
  keepEndedMs?: number;
}

interface SyntheticRun {
  assignment: JobAssignment;
  status: JobStatus;
  startedMs: number;
  timers: NodeJS.Timeout[];
}

const ENDED = new Set([
  RunState.RUN_STATE_FINISHED,
  RunState.RUN_STATE_FAILED,
  RunState.RUN_STATE_THROTTLED,
  RunState.RUN_STATE_CANCELLED,
]);

export class SyntheticExecutor implements JobExecutor {
  private readonly runs_ = new Map<string, SyntheticRun>();

  constructor(
    private readonly events: JobExecutorEvents,
    private readonly opts: SyntheticExecutorOptions = {},
  ) {}

  assign(a: JobAssignment): void {
    if (this.runs_.has(a.runId)) return;
    const now = Date.now();
    const run: SyntheticRun = {
      assignment: a,
      status: {
        jobId: a.jobId,
        runId: a.runId,
        state: RunState.RUN_STATE_PENDING,
        reason: '',
        eventsSent: 0,
        eventsLost: 0,
        overheadShare: 0,
        unixMs: now,
        // Simulated rows go to no bus: none is ever acknowledged.
        eventsAcked: 0,
      },
      startedMs: Math.max(now, a.startUnixMs),
      timers: [],
    };
    this.runs_.set(a.runId, run);
    if (a.endUnixMs <= now) {
      this.end(run, RunState.RUN_STATE_FINISHED, 'the job window had already closed');
      return;
    }
    const begin = () => {
      run.startedMs = Date.now();
      this.update(run, RunState.RUN_STATE_RUNNING, '');
      const interval = a.intervalMs > 0 ? a.intervalMs : 1_000;
      run.timers.push(
        setInterval(() => this.update(run, RunState.RUN_STATE_RUNNING, ''), interval),
      );
      run.timers.push(
        setTimeout(() => this.end(run, RunState.RUN_STATE_FINISHED, ''), a.endUnixMs - Date.now()),
      );
    };
    if (a.startUnixMs > now) {
      this.update(run, RunState.RUN_STATE_PENDING, '');
      run.timers.push(setTimeout(begin, a.startUnixMs - now));
    } else begin();
  }

  cancel(jobId: string, reason: string): void {
    for (const run of this.runs_.values())
      if (run.assignment.jobId === jobId && !ENDED.has(run.status.state))
        this.end(run, RunState.RUN_STATE_CANCELLED, reason);
  }

  runs(): JobStatus[] {
    const cutoff = Date.now() - (this.opts.keepEndedMs ?? 600_000);
    for (const [id, r] of this.runs_)
      if (ENDED.has(r.status.state) && r.status.unixMs < cutoff) this.runs_.delete(id);
    return [...this.runs_.values()].map((r) => ({ ...r.status }));
  }

  overheadShare(): number {
    let running = 0;
    for (const r of this.runs_.values())
      if (r.status.state === RunState.RUN_STATE_RUNNING) running++;
    return running * (this.opts.overheadPerRun ?? 0.0001);
  }

  async close(): Promise<void> {
    for (const r of this.runs_.values()) for (const t of r.timers) clearTimeout(t);
  }

  private update(run: SyntheticRun, state: RunState, reason: string): void {
    const now = Date.now();
    if (state === RunState.RUN_STATE_RUNNING || ENDED.has(state)) {
      const rate = (this.opts.eventsPerSecond ?? 100) * run.assignment.collectors.length;
      run.status.eventsSent = Math.floor((rate * Math.max(0, now - run.startedMs)) / 1000);
      run.status.overheadShare =
        state === RunState.RUN_STATE_RUNNING ? (this.opts.overheadPerRun ?? 0.0001) : 0;
    }
    run.status.state = state;
    run.status.reason = reason;
    run.status.unixMs = now;
    this.events.onStatus({ ...run.status });
  }

  private end(run: SyntheticRun, state: RunState, reason: string): void {
    for (const t of run.timers) clearTimeout(t);
    run.timers = [];
    this.update(run, state, reason);
  }
}
