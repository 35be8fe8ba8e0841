// SPDX-License-Identifier: Apache-2.0
/** Query and response of /api/v1/audit; the OpenAPI document is generated from them. */
import { z } from 'zod';
import { parseDuration, ValidationError } from '@fleettrace/common';
import { choice, satisfies } from '../http/request-fields.js';
import { limitQuery } from '../jobs/jobs.schemas.js';
import { AUDIT_OUTCOMES } from './audit.service.js';

/** `since`: an ISO-8601 time, or a duration back from now ("1h", "30m"), as ms since the epoch. */
export function sinceParam(raw: string, now = Date.now()): number {
  if (/^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/.test(raw))
    return now - parseDuration('since', raw, { minMs: 1_000, maxMs: 3_650 * 86_400_000 });
  const ms = Date.parse(raw);
  if (Number.isNaN(ms))
    throw new ValidationError('since', 'must be an ISO-8601 time or a duration such as 1h');
  return ms;
}

export const AuditListQuery = z.object({
  limit: limitQuery,
  action: z
    .string()
    .regex(/^[a-z]+(\.[a-z]+)?$/, 'must be an action name such as job.create')
    .optional()
    .meta({ description: 'e.g. job.create, auth.denied' }),
  outcome: choice(AUDIT_OUTCOMES).optional(),
  since: z
    .string()
    .check(satisfies((s: string) => s === '' || sinceParam(s)))
    .optional()
    .meta({ description: 'ISO-8601 time, or a duration back (1h, at most 3650 days)' }),
});

export const AuditEntryResponse = z.object({
  id: z.int(),
  ts: z.string(),
  actor: z.string(),
  role: z.string(),
  action: z.string().meta({ description: 'e.g. job.create, query, auth.denied, schedule.pause' }),
  outcome: z.enum(AUDIT_OUTCOMES),
  count: z.int().meta({
    description:
      'attempts the entry stands for: denied attempts are aggregated per (source, reason) and minute',
  }),
  target: z.unknown(),
  details: z.unknown(),
  source: z.string().meta({ description: 'client address, gRPC peer, or schedule:<id>' }),
});

export const AuditListResponse = z.object({ entries: z.array(AuditEntryResponse) });

export type AuditEntryResponse = z.infer<typeof AuditEntryResponse>;
export type AuditListResponse = z.infer<typeof AuditListResponse>;
