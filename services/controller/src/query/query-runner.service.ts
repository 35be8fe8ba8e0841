// SPDX-License-Identifier: Apache-2.0
/**
 * How every store query of the REST API runs, whoever builds its SQL (the
 * SQL API, the canned questions, profiles): written to the audit log with
 * who asked before it runs, within the token's limits (QueryLimiter: a few
 * at once, a bounded number a minute), with the caller's role, stopped when
 * the client disconnects, and with the store's refusals mapped to statuses
 * (400 refused, 422 failed, 429 limited or busy, 503 no store).
 */
import { HttpException, Inject, Injectable, Optional } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { clientAddress, type AuthenticatedRequest } from '../auth/auth.guard.js';
import type { Principal } from '../auth/roles.js';
import { AuditService } from '../audit/audit.service.js';
import { QUERY_OPTIONS, type QueryAnswer, type QueryOptions } from './query-backend.js';
import { QueryLimiter, QueryLimitError } from './query-limiter.js';

@Injectable()
export class QueryRunner {
  private readonly limiter: QueryLimiter;

  constructor(
    private readonly audit: AuditService,
    @Optional() @Inject(QUERY_OPTIONS) readonly options?: QueryOptions,
  ) {
    this.limiter = new QueryLimiter(options?.limits);
  }

  /** 503 unless the controller has an event store. */
  requireStore(): QueryOptions {
    if (!this.options)
      throw new HttpException(
        { error: 'unavailable', message: 'this controller has no event store configured' },
        503,
      );
    return this.options;
  }

  async run(
    sql: string,
    p: Principal,
    req: AuthenticatedRequest,
    what: unknown,
  ): Promise<QueryAnswer> {
    const source = clientAddress(req);
    const options = this.requireStore();
    // Written before the query runs, so that one that never returns is still on record.
    const entry = this.audit.record(
      p,
      'query',
      what,
      { sql: sql.length > 4000 ? `${sql.slice(0, 4000)}…` : sql },
      { source, outcome: 'pending' },
    );
    const started = performance.now();
    const durationMs = (): number => Math.round(performance.now() - started);
    let release: (() => void) | undefined;
    // The client going away (its socket closed before the answer) stops the query.
    const gone = new AbortController();
    const socket = (req as unknown as IncomingMessage).socket;
    const onClose = () => gone.abort();
    socket?.once('close', onClose);
    try {
      release = this.limiter.acquire(p.tokenId);
      const answer = await options.backend.query(sql, p.role, { signal: gone.signal });
      this.audit.settle(entry, 'ok', { rows: answer.rows.length, duration_ms: durationMs() });
      return answer;
    } catch (err) {
      const e = err as Error & { code?: string };
      if (err instanceof QueryLimitError) {
        this.audit.settle(entry, 'refused', { reason: e.message, duration_ms: durationMs() });
        throw new HttpException(
          { error: 'too many queries', message: e.message, retry_after_s: err.retryAfterS },
          429,
        );
      }
      if (e.code === 'QUERY_BUSY') {
        this.audit.settle(entry, 'error', { error: e.message, duration_ms: durationMs() });
        throw new HttpException({ error: 'store busy', message: e.message, retry_after_s: 1 }, 429);
      }
      if (e.code === 'QUERY_REFUSED') {
        this.audit.settle(entry, 'refused', { reason: e.message, duration_ms: durationMs() });
        throw new HttpException({ error: 'query refused', message: e.message }, 400);
      }
      this.audit.settle(entry, 'error', { error: e.message, duration_ms: durationMs() });
      if (e.code === 'QUERY_FAILED')
        throw new HttpException({ error: 'query failed', message: e.message }, 422);
      throw err;
    } finally {
      release?.();
      socket?.off('close', onClose);
    }
  }
}
