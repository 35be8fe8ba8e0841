// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { renderTable } from '@fleettrace/common';
import { ApiClient, CONNECTION_HELP, CONNECTION_OPTIONS } from '../api-client';
import { toJson, UsageError } from '../cli-error';
import { JOB_HELP, JOB_OPTIONS, jobSpecFromFlags, parseFraction } from '../job-flags';
import type {
  ScheduleListResponse,
  ScheduleResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

export const SCHEDULE_HELP = `usage: fleettrace schedule create --every D --run-for D --collect A (--hosts G | --label K=V) [options]
       fleettrace schedule list [--json]
       fleettrace schedule delete ID

A schedule starts a job every D that runs for --run-for on a share --sample
of the matching hosts, chosen afresh each period; each run carries weight
1/sample so fleet totals stay unbiased (continuous profiling).

options:
  --name NAME         a name for people
  --every D           period, e.g. 10m
  --run-for D         job duration, at most --every
  --sample P          share of matching hosts per period: 10% or 0.1 (default 100%)
${JOB_HELP}
  --json              print JSON
${CONNECTION_HELP}`;

const secs = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);

export async function scheduleCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      ...JOB_OPTIONS,
      name: { type: 'string' },
      every: { type: 'string' },
      'run-for': { type: 'string' },
      sample: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(SCHEDULE_HELP + '\n');
    return 0;
  }
  const [sub, id, ...extra] = positionals;
  const api = ApiClient.from(values);
  switch (sub) {
    case 'create': {
      if (id) throw new UsageError('schedule create takes no arguments');
      if (!values.every) throw new UsageError('--every is required, e.g. --every 10m');
      if (!values['run-for']) throw new UsageError('--run-for is required, e.g. --run-for 30s');
      const body = {
        ...(values.name ? { name: values.name } : {}),
        every: values.every,
        run_for: values['run-for'],
        ...(values.sample !== undefined
          ? { sample: parseFraction('--sample', values.sample) }
          : {}),
        job: jobSpecFromFlags(values),
      };
      const s = await api.post<ScheduleResponse>('/api/v1/schedules', body);
      process.stdout.write(
        values.json
          ? toJson(s) + '\n'
          : `schedule ${s.id} created; first job ${s.last_job_id ?? '(none yet)'}\n`,
      );
      return 0;
    }
    case 'list': {
      const { schedules } = await api.get<ScheduleListResponse>('/api/v1/schedules');
      if (values.json) process.stdout.write(toJson(schedules) + '\n');
      else
        process.stdout.write(
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
          ) + '\n',
        );
      return 0;
    }
    case 'delete': {
      if (!id || extra.length) throw new UsageError('schedule delete needs one schedule id');
      const s = await api.delete<ScheduleResponse>(`/api/v1/schedules/${encodeURIComponent(id)}`);
      process.stdout.write(
        values.json ? toJson(s) + '\n' : `schedule ${s.id} deleted (its running jobs go on)\n`,
      );
      return 0;
    }
    default:
      throw new UsageError(`schedule needs create, list or delete\n\n${SCHEDULE_HELP}`);
  }
}
