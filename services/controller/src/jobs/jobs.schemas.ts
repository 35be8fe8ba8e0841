// SPDX-License-Identifier: Apache-2.0
/**
 * Requests and responses of /api/v1/jobs other than the job spec itself
 * (job-spec.ts). The server validates with the request schemas; the OpenAPI
 * document is generated from all of them.
 */
import { z } from 'zod';
import { choice, fields, integer, text } from '../http/request-fields.js';
import { JOB_STATES, RUN_STATES } from './jobs.service.js';

/** `:id` of a route: ids are looked up as given, an unknown one is a 404. */
export const idParams = (what: string) =>
  z.object({ id: z.string().meta({ description: `${what} id` }) });

/** `?limit=`: 100 unless told. */
export const limitQuery = integer(1, 10_000).meta({ description: 'most entries to return (100)' });

export const JobsListQuery = z.object({
  state: choice(JOB_STATES).optional().meta({ description: 'only jobs in this state' }),
  limit: limitQuery,
  schedule_id: z
    .string({ error: 'must be a schedule id' })
    .optional()
    .meta({ description: 'jobs of one schedule' }),
});

/** Body of the cancel and revoke routes. */
export const ReasonRequest = fields({
  reason: text({ max: 500 }).optional().meta({ description: 'recorded in the audit log' }),
});

const nullableString = z.string().nullable();

export const RunResponse = z.object({
  id: z.string(),
  agent_id: z.string(),
  host: z.string(),
  state: z.enum(RUN_STATES),
  reason: z.string(),
  events_sent: z.int().meta({ description: 'rows the agent handed to its publisher' }),
  events_acked: z.int().meta({ description: 'of events_sent, rows the bus acknowledged' }),
  events_lost: z.int(),
  overhead_share: z.number(),
  weight: z.number(),
  dispatched: nullableString,
  acked: nullableString,
  ended: nullableString,
  ack_latency_ms: z.int().nullable(),
});

/** A job spec as validated and stored: durations in ms, defaults filled in, parameters as strings. */
export const JobSpecResponse = z.object({
  targets: z.object({
    hosts: z.array(z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    sample: z.number().optional(),
  }),
  collectors: z.array(z.object({ name: z.string(), params: z.record(z.string(), z.string()) })),
  filters: z.object({
    pid: z.int().optional(),
    uid: z.int().optional(),
    comm: z.string().optional(),
    cgroup: z.string().optional(),
  }),
  duration_ms: z.int().meta({ description: '0 in a schedule (its run_for is the duration)' }),
  interval_ms: z.int(),
  limits: z.object({ overhead_budget: z.number(), max_events_per_second: z.int() }),
});

export const JobResponse = z.object({
  id: z.string(),
  state: z.enum(JOB_STATES),
  spec: JobSpecResponse,
  created_by: z.string(),
  created: z.string(),
  start: z.string(),
  end: z.string(),
  schedule_id: nullableString,
  weight: z.number(),
  cancelled: nullableString,
  cancel_reason: nullableString,
  runs_by_state: z.record(z.string(), z.int()),
  events_sent: z.int(),
  events_acked: z.int(),
  events_lost: z.int(),
  runs: z.array(RunResponse).optional(),
});

export const JobListResponse = z.object({ jobs: z.array(JobResponse) });

export type JobSpecResponse = z.infer<typeof JobSpecResponse>;
export type RunResponse = z.infer<typeof RunResponse>;
export type JobResponse = z.infer<typeof JobResponse>;
export type JobListResponse = z.infer<typeof JobListResponse>;
