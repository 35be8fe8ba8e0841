// SPDX-License-Identifier: Apache-2.0
/**
 * The audit log: who did what, to which targets, when. Every job creation and
 * cancellation, schedule change, token change, agent revocation, enrollment
 * and query is recorded in the same transaction-free, append-only table, and
 * also logged. Readable by admins only.
 */
import { Inject, Injectable } from '@nestjs/common';
import { LOGGER } from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { StoreService } from '../store/store.service.js';
import type { Principal } from '../auth/roles.js';

export type AuditAction =
  | 'job.create'
  | 'job.cancel'
  | 'schedule.create'
  | 'schedule.delete'
  | 'schedule.fire'
  | 'token.create'
  | 'token.revoke'
  | 'agent.enroll'
  | 'agent.revoke'
  | 'query';

export interface AuditEntry {
  id: number;
  ts: string;
  actor: string;
  role: string;
  action: string;
  target: unknown;
  details: unknown;
  source: string;
}

interface AuditRow {
  id: number;
  ts_ms: number;
  actor: string;
  role: string;
  action: string;
  target: string;
  details: string;
  source: string;
}

@Injectable()
export class AuditService {
  private readonly log: JsonLogger;

  constructor(
    private readonly store: StoreService,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'audit' });
  }

  /**
   * Appends one entry. `target` says what was acted on (a job id and its
   * hosts, a token id, ...); `details` whatever else an auditor needs.
   */
  record(
    who: Principal | { name: string; role: string },
    action: AuditAction,
    target: unknown,
    details: unknown = {},
    source = '',
  ): void {
    const actor = 'tokenId' in who ? `${who.name} (${who.tokenId})` : who.name;
    this.store
      .stmt(
        'INSERT INTO audit (ts_ms, actor, role, action, target, details, source) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        Date.now(),
        actor,
        who.role,
        action,
        JSON.stringify(target),
        JSON.stringify(details),
        source,
      );
    this.log.info('audit', { actor, role: who.role, action, target, source });
  }

  list(opts: { limit: number; action?: string; sinceMs?: number }): AuditEntry[] {
    const rows = this.store
      .stmt(
        `SELECT * FROM audit WHERE (@action IS NULL OR action = @action) AND (@since IS NULL OR ts_ms >= @since)
         ORDER BY id DESC LIMIT @limit`,
      )
      .all({
        action: opts.action ?? null,
        since: opts.sinceMs ?? null,
        limit: opts.limit,
      }) as AuditRow[];
    return rows.map((r) => ({
      id: r.id,
      ts: new Date(r.ts_ms).toISOString(),
      actor: r.actor,
      role: r.role,
      action: r.action,
      target: JSON.parse(r.target),
      details: JSON.parse(r.details),
      source: r.source,
    }));
  }
}
