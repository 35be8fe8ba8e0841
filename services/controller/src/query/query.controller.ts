// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { parseDuration, ValidationError } from '@fleettrace/common';
import { CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { JobsService } from '../jobs/jobs.service.js';
import { parseRequest } from '../http/request-fields.js';
import type { QueryAnswer } from './query-backend.js';
import { QueryRunner } from './query-runner.service.js';
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
  constructor(
    private readonly runner: QueryRunner,
    private readonly jobs: JobsService,
  ) {}

  private run(
    sql: string,
    p: Principal,
    req: AuthenticatedRequest,
    what: unknown,
  ): Promise<QueryAnswer> {
    return this.runner.run(sql, p, req, what);
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
    return this.run(this.runner.options?.canned.topSql(o) ?? '', p, req, {
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
    return this.run(this.runner.options?.canned.crashesSql(o) ?? '', p, req, {
      kind: 'crashes',
      ...o,
    });
  }
}
