// SPDX-License-Identifier: Apache-2.0
/** Request and responses of /api/v1/schedules; the OpenAPI document is generated from them. */
import { z } from 'zod';
import { duration, fields, text } from '../http/request-fields.js';
import { JobTemplateRequest, MAX_DURATION_MS, sampleSchema } from '../jobs/job-spec.js';
import { JobSpecResponse } from '../jobs/jobs.schemas.js';

/** The shortest period: a schedule runs its job at most once a second. */
export const MIN_EVERY_MS = 1_000;

/** Body of POST /api/v1/schedules. */
export const ScheduleRequest = fields({
  name: text({ max: 100, pattern: /^[\w .:@-]+$/, hint: 'letters, digits, space and _ . : @ -' })
    .optional()
    .meta({ description: 'shown in lists (unnamed)' }),
  every: duration(MIN_EVERY_MS, 30 * 86_400_000, 'period, e.g. 10m (at most 30 days)'),
  run_for: duration(1_000, MAX_DURATION_MS, 'job duration, at most `every` (and 7 days)'),
  sample: sampleSchema
    .optional()
    .meta({ description: 'fraction of matching hosts each period (1)' }),
  job: JobTemplateRequest,
});

export const ScheduleResponse = z.object({
  id: z.string(),
  name: z.string(),
  every_ms: z.int(),
  run_for_ms: z.int(),
  sample: z.number(),
  weight: z.number(),
  job: JobSpecResponse,
  created_by: z.string(),
  created: z.string(),
  next_run: z.string(),
  last_job_id: z.string().nullable(),
  state: z.enum(['active', 'paused']).meta({
    description:
      "paused when its creator's token is gone, revoked, expired or lacks the role the job needs",
  }),
  paused: z.string().nullable(),
  paused_reason: z.string().nullable(),
});

export const ScheduleListResponse = z.object({ schedules: z.array(ScheduleResponse) });

export type ScheduleResponse = z.infer<typeof ScheduleResponse>;
export type ScheduleListResponse = z.infer<typeof ScheduleListResponse>;
