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

export const ProfileQuery = fields({
  ...SELECTION_FIELDS,
  format: choice(PROFILE_FORMATS).optional().meta({
    description:
      'svg (default: an interactive flame graph), folded (collapsed stacks, text), pprof (gzipped profile.proto) or speedscope (JSON); a differential profile is folded or svg',
  }),
  'base.since': timePoint(
    'differential profile: the baseline is the same selection from this time (a duration back from now or an RFC 3339 time); the target is since..until',
  ),
  'base.until': timePoint('differential profile: the baseline window ends here (default now)'),
  normalize: choice(['true', 'false']).optional().meta({
    description:
      'differential profile: scale the baseline to the target total first, so that shares are compared (default false: values as measured)',
  }),
}).superRefine((q, ctx) => {
  checkSelection(q, ctx);
  const diff = q['base.since'] !== undefined || q['base.until'] !== undefined;
  if (diff) {
    if (q['base.since'] === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['base.since'],
        message: 'is required with base.until',
        input: undefined,
      });
    else checkWindow(q['base.since'], q['base.until'], ctx, ['base']);
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
      message: 'applies to a differential profile only (with base.since)',
      input: q.normalize,
    });
});

export type ProfileQuery = z.output<typeof ProfileQuery>;
