// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Query, Req, StreamableFile } from '@nestjs/common';
import {
  exportDiff,
  exportProfile,
  rowSourceOf,
  type DiffFormat,
  type Rendered,
} from '@fleettrace/profiles';
import { CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { parseRequest } from '../http/request-fields.js';
import { QueryRunner } from '../query/query-runner.service.js';
import { baselineOf, ProfileQuery } from './profiles.schemas.js';

/**
 * Profiles from the store (docs/profiles.md): a flame graph, folded stacks,
 * pprof or speedscope of a selection of cpu_profile or offcpu rows, or a
 * differential against a baseline: the same selection with base.* fields
 * put in (another window, job, host, user...). The SQL is the profiles package's; it
 * runs as every REST query does (QueryRunner): audited, within the token's
 * limits, with the caller's role.
 */
@Controller('api/v1')
export class ProfilesController {
  constructor(private readonly runner: QueryRunner) {}

  @Get('profiles')
  @RequireRole('viewer')
  async profile(
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
    @Query() query: unknown,
  ): Promise<StreamableFile> {
    const q = parseRequest(ProfileQuery, query, 'query');
    this.runner.requireStore();
    const { format = 'svg', normalize, ...rest } = q;
    const selection = Object.fromEntries(
      Object.entries(rest).filter(([k]) => !k.startsWith('base.')),
    ) as typeof rest;
    const base = baselineOf(q, selection);
    const what = { kind: 'profile', format, ...selection, ...(base ? { base } : {}) };
    const source = rowSourceOf((sql) => this.runner.run(sql, p, req, what));
    const rendered: Rendered = base
      ? await exportDiff(base, selection, source, format as DiffFormat, {
          normalize: normalize === 'true',
        })
      : await exportProfile(selection, source, format);
    return new StreamableFile(rendered.bytes, {
      type: rendered.contentType,
      length: rendered.bytes.length,
      // A browser shows a flame graph, folded text and JSON; a pprof file is saved.
      disposition: `${format === 'pprof' ? 'attachment' : 'inline'}; filename="profile.${rendered.extension}"`,
    });
  }
}
