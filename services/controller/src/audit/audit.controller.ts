// SPDX-License-Identifier: Apache-2.0
import { Controller, Get, Query } from '@nestjs/common';
import { parseDuration, ValidationError } from '@fleettrace/common';
import { RequireRole } from '../auth/roles.js';
import { limitParam, oneOf } from '../http/request-fields.js';
import { AUDIT_OUTCOMES, AuditService, type AuditEntry } from './audit.service.js';

/** `since`: an ISO-8601 time, or a duration back from now ("1h", "30m"). */
function sinceParam(raw: string): number {
  if (/^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/.test(raw))
    return Date.now() - parseDuration('since', raw, { minMs: 1_000, maxMs: 3_650 * 86_400_000 });
  const ms = Date.parse(raw);
  if (Number.isNaN(ms))
    throw new ValidationError('since', 'must be an ISO-8601 time or a duration such as 1h');
  return ms;
}

@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** Newest first, filtered by time, action and outcome. */
  @Get()
  @RequireRole('admin')
  list(
    @Query('limit') limit?: string,
    @Query('action') action?: string,
    @Query('since') since?: string,
    @Query('outcome') outcome?: string,
  ): { entries: AuditEntry[] } {
    if (action !== undefined && !/^[a-z]+(\.[a-z]+)?$/.test(action))
      throw new ValidationError('action', 'must be an action name such as job.create');
    return {
      entries: this.audit.list({
        limit: limitParam(limit, 100, 10_000),
        ...(action ? { action } : {}),
        ...(outcome !== undefined ? { outcome: oneOf(outcome, 'outcome', AUDIT_OUTCOMES) } : {}),
        ...(since !== undefined && since !== '' ? { sinceMs: sinceParam(since) } : {}),
      }),
    };
  }
}
