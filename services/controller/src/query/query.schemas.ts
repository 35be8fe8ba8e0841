// SPDX-License-Identifier: Apache-2.0
/** Requests and response of the SQL API and its canned questions; the OpenAPI document is generated from them. */
import { z } from 'zod';
import { duration, fields, text } from '../http/request-fields.js';

/** Body of POST /api/v1/query. */
export const SqlRequest = fields({
  sql: text({ max: 100_000 }).meta({ description: 'the statement' }),
});

const since = (dflt: string) =>
  duration(
    1_000,
    366 * 86_400_000,
    `how far back, e.g. ${dflt} (default), at most 366 days`,
  ).optional();

/** Hosts as a comma-separated list (form style, not exploded); each a plain host name. */
const hosts = z
  .preprocess(
    (raw) =>
      raw === '' ? undefined : typeof raw === 'string' ? raw.split(',').map((h) => h.trim()) : raw,
    z
      .array(z.string().regex(/^[A-Za-z0-9._-]{1,253}$/, 'must be a host name'), {
        error: 'must be a comma-separated list of host names',
      })
      .optional(),
  )
  .optional()
  .meta({ description: 'comma-separated host names' });

export const TopQuery = z.object({
  by: z
    .enum(['uid', 'comm', 'host'], { error: 'must be uid, comm or host' })
    .optional()
    .meta({ description: 'uid (default), comm or host' }),
  since: since('10m'),
  hosts,
});

export const CrashesQuery = z.object({ since: since('1h'), hosts });

export const QueryAnswerResponse = z.object({
  columns: z.array(
    z.object({ name: z.string(), type: z.string().meta({ description: 'ClickHouse type' }) }),
  ),
  rows: z.array(z.array(z.unknown())),
  kind: z.string().optional().meta({ description: 'SELECT, WITH, SHOW, DESCRIBE or EXPLAIN' }),
});

/** GET /api/v1/jobs/{id}/stored: per run, rows sent, acknowledged and stored. */
export const StoredResponse = z.object({
  job_id: z.string(),
  tables: z.array(z.string()),
  runs: z.array(
    z.object({
      run_id: z.string(),
      host: z.string(),
      state: z.string(),
      events_sent: z.int(),
      events_acked: z.int(),
      rows_stored: z.int(),
      events_lost: z.int(),
    }),
  ),
});

export type StoredResponse = z.infer<typeof StoredResponse>;
export type QueryAnswerResponse = z.infer<typeof QueryAnswerResponse>;
