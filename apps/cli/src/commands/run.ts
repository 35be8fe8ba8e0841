// SPDX-License-Identifier: Apache-2.0
import { escapeForTerminal } from '@fleettrace/common';
import { ApiClient, CONNECTION_OPTIONS } from '../api-client';
import { defineCommand, printData } from '../command';
import { JOB_OPTIONS, jobSpecFromFlags, parseFraction } from '../job-flags';
import { listed } from '../registry';
import { jobText, runsByState, withStored, type JobView, type RunView } from './jobs';

const TERMINAL = new Set(['finished', 'failed', 'throttled', 'cancelled', 'lost']);

export const runCommand = defineCommand({
  ...listed('run'),
  usage: '--collect A[,B] (--hosts GLOB | --label K=V) [options]',
  description: `Creates a job on the controller: the collectors run on every matching host
(or a sample of them) for the duration, with the filters applied in the
kernel. With --wait, follows it to the end with per-host progress on stderr
and prints every host's result; the exit status is 0 when every host
finished, 1 otherwise. Ctrl-C stops waiting, not the job
(\`fleettrace job cancel ID\` does that).`,
  options: {
    ...JOB_OPTIONS,
    sample: {
      type: 'string',
      placeholder: 'P',
      help: 'run on this share of the matching hosts: 10% or 0.1',
    },
    duration: { type: 'string', placeholder: 'D', help: 'how long (default 30s)' },
    wait: { type: 'boolean', default: false, help: 'follow the job to its end' },
    ...CONNECTION_OPTIONS,
  },
  data: true,
  async run(values) {
    const spec = jobSpecFromFlags(values);
    if (values.sample !== undefined)
      (spec.targets as Record<string, unknown>).sample = parseFraction('--sample', values.sample);
    if (values.duration !== undefined) spec.duration = values.duration;
    const api = ApiClient.from(values);
    const created = await api.post<JobView>('/api/v1/jobs', spec);
    if (!values.wait) {
      printData(values.json, created, () => {
        const hosts = created.runs?.map((r) => r.host) ?? [];
        return (
          `job ${created.id} created on ${hosts.length} hosts${hosts.length ? `: ${hosts.slice(0, 10).join(', ')}${hosts.length > 10 ? ', ...' : ''}` : ''}\n` +
          `follow it with: fleettrace job show ${created.id}`
        );
      });
      return 0;
    }
    process.stderr.write(
      `job ${created.id}: ${created.runs?.length ?? 0} hosts, until ${created.end}\n`,
    );
    const job = await settle(api, await follow(api, created));
    printData(values.json, job, () => jobText(job));
    const runs = job.runs ?? [];
    if (runs.length === 0) {
      process.stderr.write('fleettrace: no host matched the targets\n');
      return 1;
    }
    return runs.every((r) => r.state === 'finished') ? 0 : 1;
  },
});

/** Polls the job until it is no longer running, printing per-host changes and a summary on stderr. */
async function follow(api: ApiClient, created: JobView): Promise<JobView> {
  const tty = process.stderr.isTTY;
  const seen = new Map<string, string>();
  let stop = false;
  const onSigint = () => {
    stop = true;
  };
  process.once('SIGINT', onSigint);
  let lastSummary = 0;
  let job = created;
  try {
    while (!stop) {
      job = await api.get<JobView>(`/api/v1/jobs/${created.id}`);
      const lines: string[] = [];
      for (const r of job.runs ?? []) {
        const key = `${r.state}|${r.reason}`;
        if (seen.get(r.id) !== key) {
          seen.set(r.id, key);
          lines.push(describe(r));
        }
      }
      const left = Math.max(0, (Date.parse(job.end) - Date.now()) / 1000);
      const summary = `${job.id}: ${runsByState(job)}; events sent ${job.events_sent}, acked ${job.events_acked}, lost ${job.events_lost}; ${job.state === 'running' ? `${left.toFixed(0)}s left` : job.state}`;
      if (tty) {
        process.stderr.write('\r\x1b[K' + lines.map((l) => l + '\n').join('') + summary);
      } else {
        for (const l of lines) process.stderr.write(l + '\n');
        if (Date.now() - lastSummary > 5_000 || job.state !== 'running') {
          process.stderr.write(summary + '\n');
          lastSummary = Date.now();
        }
      }
      if (job.state !== 'running' && (job.runs ?? []).every((r) => TERMINAL.has(r.state))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (tty) process.stderr.write('\n');
  }
  if (stop)
    process.stderr.write(
      `stopped waiting; job ${job.id} goes on (fleettrace job cancel ${job.id} stops it)\n`,
    );
  return job;
}

/**
 * An ended job's last figures: the bus acknowledges the last batches and the
 * store takes them a moment after the runs end. Polls while acked < sent or
 * stored < acked and the figures still move (15 s at most), then shows what
 * is there.
 */
async function settle(api: ApiClient, ended: JobView): Promise<JobView> {
  const deadline = Date.now() + 15_000;
  const figures = (j: JobView) =>
    (j.runs ?? []).map((r) => `${r.events_acked}/${r.rows_stored ?? '?'}`).join(',');
  const settled = (j: JobView) =>
    (j.runs ?? []).every(
      (r) =>
        r.events_acked >= r.events_sent &&
        (r.rows_stored === null || r.rows_stored === undefined || r.rows_stored >= r.events_acked),
    );
  let job = await withStored(api, ended);
  let still = 0;
  if (!settled(job))
    process.stderr.write('waiting for the last rows to be acknowledged and stored\n');
  while (!settled(job) && Date.now() < deadline && still < 3) {
    await new Promise((r) => setTimeout(r, 1000));
    const before = figures(job);
    job = await withStored(
      api,
      await api.get<JobView>(`/api/v1/jobs/${encodeURIComponent(ended.id)}`),
    );
    still = figures(job) === before ? still + 1 : 0;
  }
  return job;
}

function describe(r: RunView): string {
  const counts =
    r.state === 'pending'
      ? ''
      : `, ${r.events_sent} events sent, ${r.events_acked} acked, ${r.events_lost} lost`;
  return `  ${escapeForTerminal(r.host)}: ${r.state}${r.reason ? ` (${escapeForTerminal(r.reason)})` : ''}${counts}`;
}
