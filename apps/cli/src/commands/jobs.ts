// SPDX-License-Identifier: Apache-2.0
import { escapeForTerminal, parseInteger, renderTable } from '@fleettrace/common';
import { ApiClient, ApiError, CONNECTION_OPTIONS } from '../api-client';
import { toJson } from '../cli-error';
import { defineCommand, printData } from '../command';
import { listed } from '../registry';
import type {
  JobListResponse,
  JobResponse,
  RunResponse,
  StoredResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

/** A run as the controller's API returns it, with the rows the store holds (GET /jobs/:id/stored; null when unknown). */
export type RunView = RunResponse & { rows_stored?: number | null };

/** A job as the controller's API returns it; `stored_unknown` says why rows_stored is unknown, when it is. */
export type JobView = Omit<JobResponse, 'runs'> & { runs?: RunView[]; stored_unknown?: string };

const ENDED = new Set(['finished', 'failed', 'throttled', 'cancelled', 'lost']);

/**
 * The job with each run's stored rows (the controller counts them in the
 * store). A controller without a store, or a query refused, leaves them
 * unknown and says why: never 0.
 */
export async function withStored(api: ApiClient, job: JobView): Promise<JobView> {
  try {
    const stored = await api.get<StoredResponse>(
      `/api/v1/jobs/${encodeURIComponent(job.id)}/stored`,
    );
    const byRun = new Map(stored.runs.map((r) => [r.run_id, r.rows_stored]));
    return { ...job, runs: job.runs?.map((r) => ({ ...r, rows_stored: byRun.get(r.id) ?? 0 })) };
  } catch (err) {
    const why =
      err instanceof ApiError && err.status === 503
        ? 'the controller has no event store'
        : (err as Error).message;
    return {
      ...job,
      runs: job.runs?.map((r) => ({ ...r, rows_stored: null })),
      stored_unknown: why,
    };
  }
}

const pct = (share: number): string => `${(share * 100).toFixed(share < 0.001 ? 4 : 2)}%`;

export function runsByState(j: JobView): string {
  return (
    Object.entries(j.runs_by_state)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ') || 'no hosts'
  );
}

export function runTable(runs: RunView[]): string {
  return renderTable(
    ['HOST', 'STATE', 'SENT', 'ACKED', 'STORED', 'LOST', 'OVERHEAD', 'REASON'],
    runs.map((r) => [
      r.host,
      r.state,
      r.events_sent,
      r.events_acked,
      r.rows_stored === undefined || r.rows_stored === null ? '?' : r.rows_stored,
      r.events_lost,
      pct(r.overhead_share),
      r.reason || '',
    ]),
  );
}

/** What an ended run's figures say that the table alone does not. */
export function deliveryNotes(job: JobView): string[] {
  const notes: string[] = [];
  for (const r of job.runs ?? []) {
    if (!ENDED.has(r.state)) continue;
    const host = escapeForTerminal(r.host);
    if (r.events_acked < r.events_sent)
      notes.push(
        `${host}: ${r.events_sent - r.events_acked} of ${r.events_sent} rows sent were not acknowledged by the bus ` +
          `(they wait in the agent's spool, or were lost if it is gone)`,
      );
    if (typeof r.rows_stored === 'number' && r.rows_stored < r.events_acked)
      notes.push(
        `${host}: ${r.events_acked - r.rows_stored} acknowledged rows are not stored (yet): ingest may be behind`,
      );
  }
  if (job.stored_unknown) notes.push(`STORED unknown: ${escapeForTerminal(job.stored_unknown)}`);
  return notes;
}

export const jobsCommand = defineCommand({
  ...listed('jobs'),
  description: 'Lists jobs, newest first, with their runs by state.',
  options: {
    state: {
      type: 'string',
      placeholder: 'S',
      help: 'only jobs in this state: running, finished or cancelled',
    },
    limit: { type: 'string', default: '50', placeholder: 'N', help: 'at most N jobs' },
    ...CONNECTION_OPTIONS,
  },
  data: true,
  async run(values) {
    const limit = parseInteger('--limit', values.limit, 1, 10_000);
    const q = new URLSearchParams({
      limit: String(limit),
      ...(values.state ? { state: values.state } : {}),
    });
    const { jobs } = await ApiClient.from(values).get<JobListResponse>(`/api/v1/jobs?${q}`);
    printData(values.json, jobs, () =>
      renderTable(
        ['JOB', 'STATE', 'COLLECTORS', 'CREATED', 'BY', 'RUNS', 'EVENTS', 'LOST'],
        jobs.map((j) => [
          j.id,
          j.state,
          j.spec.collectors.map((c) => c.name).join(','),
          j.created.replace('T', ' ').slice(0, 19),
          j.created_by,
          runsByState(j),
          j.events_sent,
          j.events_lost,
        ]),
      ),
    );
    return 0;
  },
});

const show = defineCommand({
  name: 'show',
  summary: 'a job and every per-host run',
  args: ['ID'],
  options: CONNECTION_OPTIONS,
  data: true,
  async run(values, [id]) {
    const api = ApiClient.from(values);
    const job = await withStored(api, await api.get<JobView>(jobPath(id!)));
    printData(values.json, job, () => jobText(job));
    return 0;
  },
});

const cancel = defineCommand({
  name: 'cancel',
  summary: 'stop a job on every host (operator; admin for sensitive collectors)',
  args: ['ID'],
  options: {
    reason: {
      type: 'string',
      placeholder: 'TEXT',
      help: "why, for the audit log and the runs' state",
    },
    ...CONNECTION_OPTIONS,
  },
  data: true,
  async run(values, [id]) {
    const job = await ApiClient.from(values).post<JobView>(
      `${jobPath(id!)}/cancel`,
      values.reason ? { reason: values.reason } : {},
    );
    printData(values.json, job, () => jobText(job));
    return 0;
  },
});

export const jobCommand = defineCommand({
  ...listed('job'),
  description: `\`show\` prints a job and every per-host run: state, reason, overhead, and
three figures of its rows: SENT (handed to the agent's publisher), ACKED (taken
by the bus) and STORED (in the store, counted by the controller), with LOST
(never sent: kernel side, limits, no bus). \`cancel\` stops it on every host
(operator; admin for jobs with sensitive collectors).`,
  subcommands: [show, cancel],
});

const jobPath = (id: string) => `/api/v1/jobs/${encodeURIComponent(id)}`;

/** A job and its runs, for people (job show, job cancel, run --wait). */
export function jobText(job: JobView): string {
  const reason = job.cancel_reason ? ` (${escapeForTerminal(job.cancel_reason)})` : '';
  const lines = [
    `job ${job.id}: ${job.state}${reason}`,
    `  collectors ${job.spec.collectors.map((c) => c.name).join(', ')}; targets ${toJson(job.spec.targets, 0)}`,
    `  created ${job.created} by ${escapeForTerminal(job.created_by)}; ends ${job.end}${job.schedule_id ? `; schedule ${job.schedule_id}` : ''}`,
    `  runs: ${runsByState(job)}; events sent ${job.events_sent}, acked ${job.events_acked}, lost ${job.events_lost}`,
    '',
  ];
  if (job.runs?.length) lines.push(runTable(job.runs));
  const notes = deliveryNotes(job);
  if (notes.length) lines.push('', ...notes.map((n) => `  ${n}`));
  return lines.join('\n');
}
