// SPDX-License-Identifier: Apache-2.0
import { parseDuration, parseInteger, renderTable } from '@fleettrace/common';
import { ApiClient, CONNECTION_OPTIONS } from '../api-client';
import { UsageError } from '../cli-error';
import { defineCommand, printData } from '../command';
import { listed } from '../registry';
import type {
  AuditEntryResponse,
  AuditListResponse,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };

/** What an entry's reason, rows or error was, in one short cell. */
function summary(e: AuditEntryResponse): string {
  const d = (e.details ?? {}) as Record<string, unknown>;
  const t = (e.target ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof t.request === 'string') parts.push(t.request);
  for (const key of ['job_id', 'schedule_id', 'agent_id', 'id'])
    if (typeof t[key] === 'string') parts.push(`${key}=${t[key]}`);
  if (typeof d.reason === 'string') parts.push(d.reason);
  if (typeof d.rows === 'number') parts.push(`${d.rows} rows`);
  if (typeof d.duration_ms === 'number') parts.push(`${d.duration_ms} ms`);
  if (typeof d.error === 'string') parts.push(d.error);
  const text = parts.join('; ');
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

export const auditCommand = defineCommand({
  ...listed('audit'),
  usage: '[--since D] [--action A] [--outcome O | --denied] [--limit N] [--json]',
  description: `Lists the controller's audit log, newest first (admin): who did what, to what,
from where and how it ended. Refused requests (action auth.denied) are
aggregated per source and reason each minute; COUNT says how many a line
stands for.`,
  options: {
    since: {
      type: 'string',
      placeholder: 'D',
      help: 'only entries of the last D, e.g. 1h (default: all)',
    },
    action: {
      type: 'string',
      placeholder: 'A',
      help: 'only this action: job.create, job.cancel, query, schedule.create, schedule.delete, schedule.pause, token.create, token.revoke, agent.enroll, agent.revoke, auth.denied',
    },
    outcome: {
      type: 'string',
      placeholder: 'O',
      help: 'only ok, denied, refused, error or pending',
    },
    denied: { type: 'boolean', default: false, help: 'the same as --outcome denied' },
    limit: { type: 'string', default: '100', placeholder: 'N', help: 'at most N entries' },
    ...CONNECTION_OPTIONS,
  },
  data: true,
  async run(values) {
    if (values.denied && values.outcome && values.outcome !== 'denied')
      throw new UsageError('--denied and --outcome disagree; give one of them');
    const limit = parseInteger('--limit', values.limit, 1, 10_000);
    // Checked here so that a typo is a usage error before any request.
    if (values.since !== undefined) parseDuration('--since', values.since, { minMs: 1_000 });
    const outcome = values.denied ? 'denied' : values.outcome;
    const q = new URLSearchParams({
      limit: String(limit),
      ...(values.since !== undefined ? { since: values.since } : {}),
      ...(values.action !== undefined ? { action: values.action } : {}),
      ...(outcome !== undefined ? { outcome } : {}),
    });
    const { entries } = await ApiClient.from(values).get<AuditListResponse>(`/api/v1/audit?${q}`);
    // renderTable escapes control and bidi characters: actors, paths and reasons come from callers.
    printData(values.json, entries, () =>
      renderTable(
        ['TIME', 'ACTION', 'OUTCOME', 'COUNT', 'ACTOR', 'ROLE', 'SOURCE', 'WHAT'],
        entries.map((e) => [
          e.ts.replace('T', ' ').slice(0, 19),
          e.action,
          e.outcome,
          e.count,
          e.actor,
          e.role,
          e.source,
          summary(e),
        ]),
      ),
    );
    return 0;
  },
});
