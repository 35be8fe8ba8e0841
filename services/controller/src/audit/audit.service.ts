// SPDX-License-Identifier: Apache-2.0
/**
 * The audit log: who did what, to which targets, from where, when, and how it
 * ended. Every job creation and cancellation, schedule change (and pause),
 * token change, agent revocation, enrollment, query and refused request is
 * recorded in the same append-only table, and also logged. Readable by admins
 * only.
 *
 * Denied requests (401, 403) come from anyone who can reach the port — on a
 * shared host, every local user — so they must not let one user fill the
 * disk or slow the controller. They are aggregated: at most one row per
 * (source, reason) and minute carries a count, written at most once a second,
 * with at most DENIED_KEYS_PER_MINUTE distinct rows a minute (further sources
 * share one row per reason with source "*"), and kept DENIED_RETENTION_MS.
 */
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { LOGGER } from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { StoreService } from '../store/store.service.js';
import type { Principal } from '../auth/roles.js';

export type AuditAction =
  | 'auth.denied'
  | 'job.create'
  | 'job.cancel'
  | 'schedule.create'
  | 'schedule.delete'
  | 'schedule.pause'
  | 'token.create'
  | 'token.revoke'
  | 'agent.enroll'
  | 'agent.revoke'
  | 'query';

/** `pending` is a query still running: written before it runs, settled after. */
export const AUDIT_OUTCOMES = ['ok', 'denied', 'refused', 'error', 'pending'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Why a request was denied. A fixed set, so that aggregation per (source,
 * reason) is bounded by the number of sources.
 */
export const DENIED_REASONS = [
  'missing token',
  'malformed authorization',
  'unknown token',
  'wrong secret',
  'revoked token',
  'expired token',
  'role too low',
  'bad bootstrap token',
] as const;
export type DeniedReason = (typeof DENIED_REASONS)[number];

export interface DeniedAttempt {
  reason: DeniedReason;
  /** the client address */
  source: string;
  method: string;
  path: string;
  /** the id part of the presented token, when it had one; never the secret */
  tokenId?: string;
  /** name and role of the token, when it exists */
  tokenName?: string;
  role?: string;
  /** the role the route needs, for `role too low` */
  need?: string;
}

/** Where an action came from and how it ended. */
export interface AuditContext {
  /** client address of the HTTP request, `agent:<id>` or the gRPC peer, `schedule:<id>` */
  source: string;
  outcome?: AuditOutcome;
}

export interface AuditEntry {
  id: number;
  ts: string;
  actor: string;
  role: string;
  action: string;
  outcome: AuditOutcome;
  /** how many attempts the row stands for (more than 1 only for aggregated denials) */
  count: number;
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
  outcome: AuditOutcome;
  count: number;
  target: string;
  details: string;
  source: string;
}

/** Distinct (source, reason) rows of denied attempts in one minute before sources share a row. */
export const DENIED_KEYS_PER_MINUTE = 1_000;
/** How long denied attempts are kept; other entries are kept for good. */
export const DENIED_RETENTION_MS = 30 * 86_400_000;
/** A row's count is written at most this often (and when its minute ends). */
const DENIED_FLUSH_MS = 1_000;
/** Distinct paths and token ids remembered per aggregated row. */
const DENIED_SAMPLES = 10;
const MAX_PATH_CHARS = 200;

interface DeniedAggregate {
  id: number;
  count: number;
  written: number;
  flushedMs: number;
  details: { reason: DeniedReason; requests: string[]; token_ids: string[]; need?: string };
  samplesChanged: boolean;
}

@Injectable()
export class AuditService implements OnModuleDestroy {
  private readonly log: JsonLogger;
  private deniedMinute = -1;
  private readonly denials = new Map<string, DeniedAggregate>();

  constructor(
    private readonly store: StoreService,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'audit' });
  }

  onModuleDestroy(): void {
    this.flushDenials(true);
  }

  /**
   * Appends one entry and returns its id. `target` says what was acted on (a
   * job id and its hosts, a token id, ...); `details` whatever else an
   * auditor needs.
   */
  record(
    who: Principal | { name: string; role: string },
    action: AuditAction,
    target: unknown,
    details: unknown,
    context: AuditContext,
  ): number {
    const actor = 'tokenId' in who ? `${who.name} (${who.tokenId})` : who.name;
    const outcome = context.outcome ?? 'ok';
    const id = this.insert({
      ts_ms: Date.now(),
      actor,
      role: who.role,
      action,
      outcome,
      count: 1,
      target: JSON.stringify(target),
      details: JSON.stringify(details),
      source: context.source,
    });
    this.log.info('audit', {
      actor,
      role: who.role,
      action,
      outcome,
      target,
      source: context.source,
    });
    return id;
  }

  /** Sets the outcome of an entry written `pending`, adding `details` to its own. */
  settle(id: number, outcome: Exclude<AuditOutcome, 'pending'>, details: object): void {
    const row = this.store.stmt('SELECT details, action FROM audit WHERE id = ?').get(id) as
      | { details: string; action: string }
      | undefined;
    if (!row) return;
    const merged = { ...(JSON.parse(row.details) as object), ...details };
    this.store
      .stmt('UPDATE audit SET outcome = ?, details = ? WHERE id = ?')
      .run(outcome, JSON.stringify(merged), id);
    this.log.info('audit settled', { id, action: row.action, outcome });
  }

  /** A request refused with 401 or 403: counted into its (source, reason) row of this minute. */
  denied(attempt: DeniedAttempt, now = Date.now()): void {
    const minute = Math.floor(now / 60_000);
    if (minute !== this.deniedMinute) {
      this.flushDenials(true);
      this.denials.clear();
      this.deniedMinute = minute;
      this.store
        .stmt("DELETE FROM audit WHERE action = 'auth.denied' AND ts_ms < ?")
        .run(now - DENIED_RETENTION_MS);
    }
    let source = attempt.source;
    let key = `${source}\0${attempt.reason}`;
    if (!this.denials.has(key) && this.denials.size >= DENIED_KEYS_PER_MINUTE) {
      source = '*';
      key = `*\0${attempt.reason}`;
    }
    const request = `${attempt.method} ${attempt.path.slice(0, MAX_PATH_CHARS)}`;
    let agg = this.denials.get(key);
    if (!agg) {
      const details: DeniedAggregate['details'] = {
        reason: attempt.reason,
        requests: [request],
        token_ids: attempt.tokenId ? [attempt.tokenId] : [],
        ...(attempt.need ? { need: attempt.need } : {}),
      };
      const actor = attempt.tokenId
        ? `${attempt.tokenName ?? 'unknown token'} (${attempt.tokenId})`
        : 'anonymous';
      const id = this.insert({
        ts_ms: now,
        actor,
        role: attempt.role ?? '',
        action: 'auth.denied',
        outcome: 'denied',
        count: 1,
        target: JSON.stringify({ request }),
        details: JSON.stringify(details),
        source,
      });
      agg = { id, count: 1, written: 1, flushedMs: now, details, samplesChanged: false };
      this.denials.set(key, agg);
      this.log.warn('audit', {
        actor,
        action: 'auth.denied',
        outcome: 'denied',
        reason: attempt.reason,
        request,
        source,
      });
      return;
    }
    agg.count++;
    const d = agg.details;
    if (d.requests.length < DENIED_SAMPLES && !d.requests.includes(request)) {
      d.requests.push(request);
      agg.samplesChanged = true;
    }
    if (
      attempt.tokenId &&
      d.token_ids.length < DENIED_SAMPLES &&
      !d.token_ids.includes(attempt.tokenId)
    ) {
      d.token_ids.push(attempt.tokenId);
      agg.samplesChanged = true;
    }
    if (now - agg.flushedMs >= DENIED_FLUSH_MS) this.flushOne(agg, now);
  }

  /** Writes the counts of this minute's denial rows (all of them, or those due). */
  private flushDenials(all: boolean, now = Date.now()): void {
    for (const agg of this.denials.values())
      if (all || now - agg.flushedMs >= DENIED_FLUSH_MS) this.flushOne(agg, now);
  }

  private flushOne(agg: DeniedAggregate, now: number): void {
    agg.flushedMs = now;
    if (agg.count === agg.written && !agg.samplesChanged) return;
    this.store
      .stmt('UPDATE audit SET count = ?, details = ? WHERE id = ?')
      .run(agg.count, JSON.stringify(agg.details), agg.id);
    agg.written = agg.count;
    agg.samplesChanged = false;
  }

  list(opts: {
    limit: number;
    action?: string;
    outcome?: AuditOutcome;
    sinceMs?: number;
  }): AuditEntry[] {
    // Counts of the current minute's denials are written lazily; a reader sees them all.
    this.flushDenials(true);
    const rows = this.store
      .stmt(
        `SELECT * FROM audit WHERE (@action IS NULL OR action = @action) AND (@outcome IS NULL OR outcome = @outcome)
           AND (@since IS NULL OR ts_ms >= @since)
         ORDER BY id DESC LIMIT @limit`,
      )
      .all({
        action: opts.action ?? null,
        outcome: opts.outcome ?? null,
        since: opts.sinceMs ?? null,
        limit: opts.limit,
      }) as AuditRow[];
    return rows.map((r) => ({
      id: r.id,
      ts: new Date(r.ts_ms).toISOString(),
      actor: r.actor,
      role: r.role,
      action: r.action,
      outcome: r.outcome,
      count: r.count,
      target: JSON.parse(r.target),
      details: JSON.parse(r.details),
      source: r.source,
    }));
  }

  private insert(row: Omit<AuditRow, 'id'>): number {
    return Number(
      this.store
        .stmt(
          `INSERT INTO audit (ts_ms, actor, role, action, outcome, count, target, details, source)
           VALUES (@ts_ms, @actor, @role, @action, @outcome, @count, @target, @details, @source)`,
        )
        .run(row).lastInsertRowid,
    );
  }
}
