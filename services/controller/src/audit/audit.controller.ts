// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Query } from '@nestjs/common';
import { ValidationError } from '@fleettrace/common';
import { RequireRole } from '../auth/roles.js';
import { limitParam } from '../http/request-fields.js';
import { AuditService, type AuditEntry } from './audit.service.js';

@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** Newest first. `since` is an ISO-8601 time. */
  @Get()
  @RequireRole('admin')
  list(
    @Query('limit') limit?: string,
    @Query('action') action?: string,
    @Query('since') since?: string,
  ): { entries: AuditEntry[] } {
    let sinceMs: number | undefined;
    if (since !== undefined) {
      sinceMs = Date.parse(since);
      if (Number.isNaN(sinceMs)) throw new ValidationError('since', 'must be an ISO-8601 time');
    }
    return {
      entries: this.audit.list({
        limit: limitParam(limit, 100, 10_000),
        ...(action ? { action } : {}),
        ...(sinceMs !== undefined ? { sinceMs } : {}),
      }),
    };
  }
}
