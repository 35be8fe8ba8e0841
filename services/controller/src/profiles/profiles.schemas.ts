// SPDX-License-Identifier: Apache-2.0
/**
 * The query string of GET /api/v1/profiles: a selection (the profiles
 * package's fields and checks, the one statement of what a selection is),
 * the output format, and for a differential profile the baseline's window.
 * The OpenAPI document is generated from it.
 */
import { z } from 'zod';
import {
  checkSelection,
  checkWindow,
  DIFF_FORMATS,
  PROFILE_FORMATS,
  SELECTION_FIELDS,
  timePoint,
} from '@fleettrace/profiles';
import { choice, fields } from '../http/request-fields.js';

/** Selection fields a differential's baseline may set apart from the target's (`base.<field>`). */
export const BASE_FIELDS = [
  'since',
  'until',
  'job_id',
  'hosts',
  'uid',
  'pid',
  'comm',
  'state',
] as const;

const baseline = (field: string) =>
  `differential profile: the baseline's ${field} (default: the target's); any base.* field makes the profile a differential`;

export const ProfileQuery = fields({
  ...SELECTION_FIELDS,
  format: choice(PROFILE_FORMATS).optional().meta({
    description:
      'svg (default: an interactive flame graph), folded (collapsed stacks, text), pprof (gzipped profile.proto) or speedscope (JSON); a differential profile is folded or svg',
  }),
  'base.since': timePoint(baseline('since, e.g. 1450m or an RFC 3339 time')),
  'base.until': timePoint(baseline('until')),
  'base.job_id': SELECTION_FIELDS.job_id.meta({ description: baseline('job id') }),
  'base.hosts': SELECTION_FIELDS.hosts.meta({ description: baseline('hosts (comma-separated)') }),
  'base.uid': SELECTION_FIELDS.uid.meta({ description: baseline('user id') }),
  'base.pid': SELECTION_FIELDS.pid.meta({ description: baseline('process id') }),
  'base.comm': SELECTION_FIELDS.comm.meta({ description: baseline('process name') }),
  'base.state': SELECTION_FIELDS.state.meta({ description: baseline('blocked state (offcpu)') }),
  normalize: choice(['true', 'false']).optional().meta({
    description:
      'differential profile: scale the baseline to the target total first, so that shares are compared (default false: values as measured)',
  }),
}).superRefine((q, ctx) => {
  checkSelection(q, ctx);
  const diff = BASE_FIELDS.some((f) => q[`base.${f}`] !== undefined);
  if (diff) {
    if (q['base.state'] !== undefined && q.collector !== 'offcpu')
      ctx.addIssue({
        code: 'custom',
        path: ['base.state'],
        message: 'applies to the offcpu collector only',
        input: q['base.state'],
      });
    if (q['base.since'] !== undefined || q['base.until'] !== undefined)
      checkWindow(q['base.since'] ?? q.since, q['base.until'] ?? q.until, ctx, ['base']);
    if (q.format !== undefined && !(DIFF_FORMATS as readonly string[]).includes(q.format))
      ctx.addIssue({
        code: 'custom',
        path: ['format'],
        message: `a differential profile is one of ${DIFF_FORMATS.join(', ')}, got ${JSON.stringify(q.format)}`,
        input: q.format,
      });
  } else if (q.normalize !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['normalize'],
      message: 'applies to a differential profile only (with a base.* field)',
      input: q.normalize,
    });
});

export type ProfileQuery = z.output<typeof ProfileQuery>;

/** The baseline of a differential: the target's selection with the base.* fields put in; undefined when there are none. */
export function baselineOf<T extends Record<string, unknown>>(
  q: Record<string, unknown>,
  target: T,
): T | undefined {
  const overrides = Object.fromEntries(
    BASE_FIELDS.filter((f) => q[`base.${f}`] !== undefined).map((f) => [f, q[`base.${f}`]]),
  );
  return Object.keys(overrides).length ? { ...target, ...overrides } : undefined;
}
