// SPDX-License-Identifier: Apache-2.0
import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpException,
  Inject,
  Optional,
  Param,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import { parseDuration, ValidationError } from '@fleettrace/common';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { AuditService } from '../audit/audit.service.js';
import { JobsService } from '../jobs/jobs.service.js';
import { parseRequest } from '../http/request-fields.js';
import type { IncomingMessage } from 'node:http';
import { QUERY_OPTIONS, type QueryAnswer, type QueryOptions } from './query-backend.js';
import { QueryLimiter, QueryLimitError } from './query-limiter.js';
import {
  CrashesQuery,
  SqlRequest,
  TopQuery,
  type QueryAnswerResponse,
  type StoredResponse,
} from './query.schemas.js';

/** `since` (checked in range by the schema) in whole seconds. */
function sinceSeconds(raw: string | undefined, fallback: string): number {
  return Math.ceil(parseDuration('since', raw ?? fallback) / 1000);
}

/**
 * SQL over the fleet's history, and the canned questions built on it. Every
 * query, canned or not, is written to the audit log with who asked. A token
 * runs at most a few at once and a bounded number a minute (QueryLimiter); a
 * query whose client disconnects is stopped.
 */
@Controller('api/v1')
export class QueryController {
  private readonly limiter: QueryLimiter;

  constructor(
    private readonly audit: AuditService,
    private readonly jobs: JobsService,
    @Optional() @Inject(QUERY_OPTIONS) private readonly options?: QueryOptions,
  ) {
    this.limiter = new QueryLimiter(options?.limits);
  }

  private async run(
    sql: string,
    p: Principal,
    req: AuthenticatedRequest,
    what: unknown,
  ): Promise<QueryAnswer> {
    const source = clientAddress(req);
    if (!this.options) {
      throw new HttpException(
        { error: 'unavailable', message: 'this controller has no event store configured' },
        503,
      );
    }
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
      const answer = await this.options.backend.query(sql, p.role, { signal: gone.signal });
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

  /**
   * The third figure of a job's runs: rows the store holds for each (copies
   * of a batch delivered twice collapsed), beside what the agent sent and the
   * bus acknowledged. Counts the main table of every collector of the job.
   */
  @Get('jobs/:id/stored')
  @RequireRole('viewer')
  async stored(
    @Param('id') id: string,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): Promise<StoredResponse> {
    const job = this.jobs.get(id); // 404 for an unknown id, before any SQL
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(job.id)) throw new ValidationError('id', 'must be a job id');
    const tables = [...new Set(job.spec.collectors.map((c) => c.name))]
      .filter((name) => /^[a-z][a-z0-9_]*$/.test(name))
      .map((name) => `fleettrace.${name}`);
    const stored = new Map<string, number>();
    if (tables.length) {
      const sql =
        `SELECT run_id, sum(n) AS rows FROM (` +
        tables
          .map(
            (t) =>
              `SELECT run_id, count() AS n FROM ${t} FINAL WHERE job_id = '${job.id}' GROUP BY run_id`,
          )
          .join(' UNION ALL ') +
        `) GROUP BY run_id`;
      const answer = await this.run(sql, p, req, { kind: 'stored', job_id: job.id });
      for (const [runId, rows] of answer.rows) stored.set(String(runId), Number(rows));
    }
    return {
      job_id: job.id,
      tables,
      runs: (job.runs ?? []).map((r) => ({
        run_id: r.id,
        host: r.host,
        state: r.state,
        events_sent: r.events_sent,
        events_acked: r.events_acked,
        rows_stored: stored.get(r.id) ?? 0,
        events_lost: r.events_lost,
      })),
    };
  }

  /** One SELECT / WITH / SHOW / DESCRIBE / EXPLAIN statement. */
  @Post('query')
  @RequireRole('viewer')
  @HttpCode(200)
  async query(
    @Body() body: unknown,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): Promise<QueryAnswerResponse> {
    const { sql } = parseRequest(SqlRequest, body);
    return this.run(sql, p, req, { kind: 'sql' });
  }

  /** Who used the CPU and the syscalls, by uid, comm or host. */
  @Get('top')
  @RequireRole('viewer')
  async top(
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
    @Query() query: unknown,
  ): Promise<QueryAnswerResponse> {
    const q = parseRequest(TopQuery, query, 'query');
    const o = { by: q.by ?? 'uid', sinceS: sinceSeconds(q.since, '10m'), hosts: q.hosts } as const;
    return this.run(this.options?.canned.topSql(o) ?? '', p, req, {
      kind: 'top',
      ...o,
    });
  }

  /** Exits by signal, OOM kills, and kills with sender and target, newest first. */
  @Get('crashes')
  @RequireRole('viewer')
  async crashes(
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
    @Query() query: unknown,
  ): Promise<QueryAnswerResponse> {
    const q = parseRequest(CrashesQuery, query, 'query');
    const o = { sinceS: sinceSeconds(q.since, '1h'), hosts: q.hosts };
    return this.run(this.options?.canned.crashesSql(o) ?? '', p, req, {
      kind: 'crashes',
      ...o,
    });
  }
}
