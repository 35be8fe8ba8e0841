// SPDX-License-Identifier: Apache-2.0
import { renderTable } from '@fleettrace/common';
import { ApiClient, CONNECTION_OPTIONS } from '../api-client';
import { UsageError } from '../cli-error';
import { defineCommand, printData } from '../command';
import { JOB_OPTIONS, jobSpecFromFlags, parseFraction } from '../job-flags';
import { listed } from '../registry';
import type {
  ScheduleListResponse,
  ScheduleResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

const secs = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);

const create = defineCommand({
  name: 'create',
  summary: 'start a job every D on a sample of the matching hosts',
  usage: '--every D --run-for D --collect A (--hosts G | --label K=V) [options]',
  options: {
    name: { type: 'string', placeholder: 'NAME', help: 'a name for people' },
    every: { type: 'string', placeholder: 'D', help: 'period, e.g. 10m (required)' },
    'run-for': {
      type: 'string',
      placeholder: 'D',
      help: 'job duration, at most --every (required)',
    },
    sample: {
      type: 'string',
      placeholder: 'P',
      help: 'share of matching hosts per period: 10% or 0.1 (default 100%)',
    },
    ...JOB_OPTIONS,
    ...CONNECTION_OPTIONS,
  },
  data: true,
  async run(values) {
    if (!values.every) throw new UsageError('--every is required, e.g. --every 10m');
    if (!values['run-for']) throw new UsageError('--run-for is required, e.g. --run-for 30s');
    const body = {
      ...(values.name ? { name: values.name } : {}),
      every: values.every,
      run_for: values['run-for'],
      ...(values.sample !== undefined ? { sample: parseFraction('--sample', values.sample) } : {}),
      job: jobSpecFromFlags(values),
    };
    const s = await ApiClient.from(values).post<ScheduleResponse>('/api/v1/schedules', body);
    printData(
      values.json,
      s,
      () => `schedule ${s.id} created; first job ${s.last_job_id ?? '(none yet)'}`,
    );
    return 0;
  },
});

const list = defineCommand({
  name: 'list',
  summary: 'the schedules',
  options: CONNECTION_OPTIONS,
  data: true,
  async run(values) {
    const { schedules } =
      await ApiClient.from(values).get<ScheduleListResponse>('/api/v1/schedules');
    printData(values.json, schedules, () =>
      renderTable(
        [
          'SCHEDULE',
          'NAME',
          'STATE',
          'EVERY',
          'RUN FOR',
          'SAMPLE',
          'COLLECTORS',
          'NEXT',
          'LAST JOB',
        ],
        schedules.map((s) => [
          s.id,
          s.name,
          s.state === 'paused' ? `paused: ${s.paused_reason ?? ''}` : (s.state ?? 'active'),
          secs(s.every_ms),
          secs(s.run_for_ms),
          `${(s.sample * 100).toFixed(1)}%`,
          s.job.collectors.map((c) => c.name).join(','),
          s.next_run.replace('T', ' ').slice(0, 19),
          s.last_job_id ?? '-',
        ]),
      ),
    );
    return 0;
  },
});

const remove = defineCommand({
  name: 'delete',
  summary: 'delete a schedule (its running jobs go on)',
  args: ['ID'],
  options: CONNECTION_OPTIONS,
  data: true,
  async run(values, [id]) {
    const s = await ApiClient.from(values).delete<ScheduleResponse>(
      `/api/v1/schedules/${encodeURIComponent(id!)}`,
    );
    printData(values.json, s, () => `schedule ${s.id} deleted (its running jobs go on)`);
    return 0;
  },
});

export const scheduleCommand = defineCommand({
  ...listed('schedule'),
  description: `A schedule starts a job every D that runs for --run-for on a share --sample
of the matching hosts, chosen afresh each period; each run carries weight
1/sample so fleet totals stay unbiased (continuous profiling).`,
  subcommands: [create, list, remove],
});
