// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Query } from '@nestjs/common';
import { RequireRole } from '../auth/roles.js';
import { parseRequest } from '../http/request-fields.js';
import { AuditListQuery, sinceParam } from './audit.schemas.js';
import { AuditService } from './audit.service.js';
import type { AuditListResponse } from './audit.schemas.js';

@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** Newest first, filtered by time, action and outcome. */
  @Get()
  @RequireRole('admin')
  list(@Query() query: unknown): AuditListResponse {
    const q = parseRequest(AuditListQuery, query, 'query');
    return {
      entries: this.audit.list({
        limit: q.limit ?? 100,
        ...(q.action ? { action: q.action } : {}),
        ...(q.outcome !== undefined ? { outcome: q.outcome } : {}),
        ...(q.since !== undefined && q.since !== '' ? { sinceMs: sinceParam(q.since) } : {}),
      }),
    };
  }
}
