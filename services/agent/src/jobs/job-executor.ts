// SPDX-License-Identifier: Apache-2.0
/**
 * The seam between the agent's connection to the controller and whatever
 * runs jobs: the real JobRunner (collectors on this kernel) or the synthetic
 * runner of simulated agents. Every method runs on the main thread and
 * returns without waiting for collectors to load or stop; progress comes back
 * through `onStatus`.
 */
import type { JobAssignment, JobStatus } from '@fleettrace/proto';

/** Rows one collector of one run produced in one interval, for the event bus. */
export interface RowBatch {
  jobId: string;
  runId: string;
  collector: string;
  rows: unknown[];
  /** events or increments the kernel side lost in the interval */
  lost: number;
  /** 1/p of a scheduled run */
  weight: number;
}

export interface JobExecutorEvents {
  /** A run changed state or its counts moved; called at least once per state change. */
  onStatus(status: JobStatus): void;
  /** Rows to publish. */
  onRows?(batch: RowBatch): void;
  /**
   * Why rows cannot be published now (e.g. "no event bus: ..."), or undefined
   * when they can. Asked before every batch: rows that cannot be published are
   * counted in events_lost, not events_sent, and the run's reason says why.
   */
  undeliverable?(): string | undefined;
}

export interface JobExecutor {
  /**
   * Starts a run. An assignment for a run already known is ignored (the
   * controller re-sends assignments after reconnects). A run that cannot
   * start (unknown collector, kernel feature missing, bad parameters) ends
   * FAILED with the reason.
   */
  assign(assignment: JobAssignment): void;
  /** Stops a job's run; it ends CANCELLED with the reason. Unknown jobs are ignored. */
  cancel(jobId: string, reason: string): void;
  /** Current status of every run still known (running or ended recently), for Hello after a reconnect. */
  runs(): JobStatus[];
  /** Share of host CPU spent on tracing since the previous call (BPF run time, fixed hook cost, agent CPU). */
  overheadShare(): number;
  /**
   * The bus acknowledged `rows` of a run's rows: they count in its events_acked.
   * Runs this executor no longer knows (ended long ago, or of an earlier agent
   * process, replayed from the spool) are ignored.
   */
  acknowledged?(jobId: string, runId: string, rows: number): void;
  /** Stops every run and detaches every program. */
  close(): Promise<void>;
}
