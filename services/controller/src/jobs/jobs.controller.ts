// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { parseRequest } from '../http/request-fields.js';
import { parseJobSpec } from './job-spec.js';
import { JobsListQuery, ReasonRequest } from './jobs.schemas.js';
import { JobsService } from './jobs.service.js';
import type { JobListResponse, JobResponse } from './jobs.schemas.js';

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
  ): JobResponse {
    return this.jobs.create(parseJobSpec(body), p, { source: clientAddress(req) });
  }

  @Get()
  list(@Query() query: unknown): JobListResponse {
    const q = parseRequest(JobsListQuery, query, 'query');
    return {
      jobs: this.jobs.list({
        limit: q.limit ?? 100,
        ...(q.state !== undefined ? { state: q.state } : {}),
        ...(q.schedule_id !== undefined ? { scheduleId: q.schedule_id } : {}),
      }),
    };
  }

  /** The job with every per-host run. */
  @Get(':id')
  get(@Param('id') id: string): JobResponse {
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
  ): JobResponse {
    const b = parseRequest(ReasonRequest, body ?? {});
    return this.jobs.cancel(id, p, b.reason ?? 'no reason given', clientAddress(req));
  }
}
