// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { limitParam, objectWith, oneOf, optionalString } from '../http/request-fields.js';
import { parseJobSpec } from './job-spec.js';
import { JOB_STATES, JobsService, type JobView } from './jobs.service.js';

@Controller('api/v1/jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  /** Creates and dispatches a job. Collectors that see sensitive data need the admin role. */
  @Post()
  @RequireRole('operator')
  create(
    @Body() body: unknown,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): JobView {
    return this.jobs.create(parseJobSpec(body), p, { source: clientAddress(req) });
  }

  @Get()
  list(
    @Query('state') state?: string,
    @Query('limit') limit?: string,
    @Query('schedule_id') scheduleId?: string,
  ): { jobs: JobView[] } {
    return {
      jobs: this.jobs.list({
        limit: limitParam(limit, 100, 10_000),
        ...(state !== undefined ? { state: oneOf(state, 'state', JOB_STATES) } : {}),
        ...(scheduleId !== undefined ? { scheduleId } : {}),
      }),
    };
  }

  /** The job with every per-host run. */
  @Get(':id')
  get(@Param('id') id: string): JobView {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @RequireRole('operator')
  @HttpCode(200)
  cancel(
    @Param('id') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): JobView {
    const b = objectWith(body ?? {}, '', ['reason']);
    return this.jobs.cancel(
      id,
      p,
      optionalString(b.reason, 'reason', { max: 500 }) ?? 'no reason given',
      clientAddress(req),
    );
  }
}
