// SPDX-License-Identifier: Apache-2.0
/**
 * Schedules for continuous profiling: every `every`, a job that runs for
 * `run_for` on a fraction `sample` of the hosts matching the template's
 * targets, chosen afresh each period; its runs carry weight 1/sample so
 * fleet totals stay unbiased. The first job starts at creation. Periods
 * missed while the controller was down are skipped, not replayed.
 *
 * A schedule acts with its creator's token: each period, before starting its
 * job, the token must still exist, be neither revoked nor expired, and have
 * the role the collectors and the budget need. If not, the schedule is paused
 * with the reason (shown in the list and audited); it stays paused, since a
 * revoked token never comes back: create it again with a valid token.
 */
import { randomBytes } from 'node:crypto';
import {
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { parseDuration, ValidationError } from '@fleettrace/common';
import { CONFIG, LOGGER, type ResolvedConfig } from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { StoreService } from '../store/store.service.js';
import { AuditService } from '../audit/audit.service.js';
import { roleAtLeast, type Principal, type Role } from '../auth/roles.js';
import { TokensService } from '../auth/tokens.service.js';
import { parseRequest } from '../http/request-fields.js';
import { JobsService } from '../jobs/jobs.service.js';
import { parseJobSpec, type JobSpec } from '../jobs/job-spec.js';
import { ScheduleRequest } from './schedules.schemas.js';

interface ScheduleRow {
  id: string;
  name: string;
  spec: string;
  every_ms: number;
  run_for_ms: number;
  sample: number;
  created_by: string;
  created_ms: number;
  next_run_ms: number;
  last_job_id: string | null;
  deleted_ms: number | null;
  /** the API token it acts with; null only for schedules of unknown origin */
  owner_token_id: string | null;
  paused_ms: number | null;
  paused_reason: string | null;
}

export interface ScheduleView {
  id: string;
  name: string;
  every_ms: number;
  run_for_ms: number;
  sample: number;
  weight: number;
  job: JobSpec;
  created_by: string;
  created: string;
  next_run: string;
  last_job_id: string | null;
  state: 'active' | 'paused';
  paused: string | null;
  paused_reason: string | null;
}

/** Stored with the spec: the creator's role decides what the schedule may run. */
interface StoredSpec {
  template: JobSpec;
  role: Role;
}

function insertable(
  row: ScheduleRow,
): Omit<ScheduleRow, 'last_job_id' | 'deleted_ms' | 'paused_ms' | 'paused_reason'> {
  const {
    last_job_id: _last,
    deleted_ms: _deleted,
    paused_ms: _paused,
    paused_reason: _reason,
    ...rest
  } = row;
  return rest;
}

@Injectable()
export class SchedulesService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private readonly log: JsonLogger;

  constructor(
    private readonly store: StoreService,
    private readonly jobs: JobsService,
    private readonly audit: AuditService,
    private readonly tokens: TokensService,
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'schedules' });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.tick(), this.config.sweepIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Body: {name, every, run_for, sample, job: {targets, collectors, filters?, interval?, limits?}}. */
  create(body: unknown, who: Principal, source: string): ScheduleView {
    if (!roleAtLeast(who.role, 'operator'))
      throw new ForbiddenException(
        `creating schedules needs the operator role; token ${who.name} has ${who.role}`,
      );
    // The schema checks every field, the job's too; parseJobSpec then adds what a schema cannot state.
    const b = parseRequest(ScheduleRequest, body);
    const name = b.name ?? 'unnamed';
    const everyMs = parseDuration('every', b.every);
    const runForMs = parseDuration('run_for', b.run_for);
    if (runForMs > everyMs)
      throw new ValidationError('run_for', `must not be longer than every (${everyMs}ms)`);
    const sample = b.sample ?? 1;
    let template: JobSpec;
    try {
      template = parseJobSpec(b.job, { template: true });
    } catch (err) {
      if (err instanceof ValidationError) throw new ValidationError(`job.${err.field}`, err.reason);
      throw err;
    }
    if (template.interval_ms > runForMs)
      throw new ValidationError('job.interval', `must not be longer than run_for (${runForMs}ms)`);
    this.jobs.checkRole({ ...template, duration_ms: runForMs }, who);
    try {
      this.jobs.checkLimits({ ...template, duration_ms: runForMs }, who);
    } catch (err) {
      if (err instanceof ValidationError) throw new ValidationError(`job.${err.field}`, err.reason);
      throw err;
    }
    const now = Date.now();
    const row: ScheduleRow = {
      id: `sch_${now.toString(36)}${randomBytes(4).toString('hex')}`,
      name,
      spec: JSON.stringify({ template, role: who.role } satisfies StoredSpec),
      every_ms: everyMs,
      run_for_ms: runForMs,
      sample,
      created_by: `${who.name} (${who.tokenId})`,
      created_ms: now,
      next_run_ms: now,
      last_job_id: null,
      deleted_ms: null,
      owner_token_id: who.tokenId,
      paused_ms: null,
      paused_reason: null,
    };
    this.store
      .stmt(
        `INSERT INTO schedules (id, name, spec, every_ms, run_for_ms, sample, created_by, created_ms, next_run_ms, owner_token_id)
         VALUES (@id, @name, @spec, @every_ms, @run_for_ms, @sample, @created_by, @created_ms, @next_run_ms, @owner_token_id)`,
      )
      .run(insertable(row));
    this.audit.record(
      who,
      'schedule.create',
      { schedule_id: row.id },
      { name, every_ms: everyMs, run_for_ms: runForMs, sample, job: template },
      { source },
    );
    this.tick();
    return this.get(row.id);
  }

  /** Starts the jobs of every schedule whose time has come. */
  tick(now = Date.now()): void {
    const due = this.store
      .stmt(
        'SELECT * FROM schedules WHERE deleted_ms IS NULL AND paused_ms IS NULL AND next_run_ms <= ?',
      )
      .all(now) as ScheduleRow[];
    for (const s of due) {
      const periods = Math.floor((now - s.next_run_ms) / s.every_ms) + 1;
      const next = s.next_run_ms + periods * s.every_ms;
      this.store.stmt('UPDATE schedules SET next_run_ms = ? WHERE id = ?').run(next, s.id);
      const stored = JSON.parse(s.spec) as StoredSpec;
      const spec: JobSpec = { ...stored.template, duration_ms: s.run_for_ms };
      const standing = this.creatorStanding(s, spec);
      if ('reason' in standing) {
        this.pause(s, standing.reason, now);
        continue;
      }
      try {
        const job = this.jobs.create(
          spec,
          { tokenId: `schedule:${s.id}`, name: `schedule ${s.name}`, role: standing.role },
          { scheduleId: s.id, sample: s.sample, source: `schedule:${s.id}` },
        );
        this.store.stmt('UPDATE schedules SET last_job_id = ? WHERE id = ?').run(job.id, s.id);
        if (periods > 1)
          this.log.warn('schedule skipped missed periods', {
            schedule_id: s.id,
            skipped: periods - 1,
          });
      } catch (err) {
        this.log.error('schedule could not start its job', {
          schedule_id: s.id,
          error: (err as Error).message,
        });
      }
    }
  }

  /**
   * The role a schedule may start its job with now: its creator token's,
   * if that token may still act and its role covers the job.
   */
  private creatorStanding(s: ScheduleRow, spec: JobSpec): { role: Role } | { reason: string } {
    if (s.owner_token_id === null)
      return { reason: `the token that created it is unknown (created by ${s.created_by})` };
    const standing = this.tokens.standing(s.owner_token_id);
    if ('reason' in standing) return standing;
    const who: Principal = { tokenId: s.owner_token_id, name: s.created_by, role: standing.role };
    if (!roleAtLeast(standing.role, 'operator'))
      return { reason: `its creator's token has the ${standing.role} role, jobs need operator` };
    try {
      this.jobs.checkRole(spec, who);
      this.jobs.checkLimits(spec, who);
    } catch (err) {
      if (err instanceof ForbiddenException || err instanceof ValidationError)
        return { reason: `its creator's token may no longer run it: ${err.message}` };
      throw err;
    }
    return standing;
  }

  private pause(s: ScheduleRow, reason: string, now: number): void {
    this.store
      .stmt('UPDATE schedules SET paused_ms = ?, paused_reason = ? WHERE id = ?')
      .run(now, reason, s.id);
    this.audit.record(
      { name: `schedule ${s.name} (${s.id})`, role: 'system' },
      'schedule.pause',
      { schedule_id: s.id },
      { name: s.name, reason, created_by: s.created_by },
      { source: `schedule:${s.id}` },
    );
    this.log.warn('schedule paused', { schedule_id: s.id, reason });
  }

  private row(id: string): ScheduleRow {
    const r = this.store
      .stmt('SELECT * FROM schedules WHERE id = ? AND deleted_ms IS NULL')
      .get(id) as ScheduleRow | undefined;
    if (!r) throw new NotFoundException(`schedule ${id}: no such schedule`);
    return r;
  }

  get(id: string): ScheduleView {
    return this.view(this.row(id));
  }

  list(): ScheduleView[] {
    return (
      this.store
        .stmt('SELECT * FROM schedules WHERE deleted_ms IS NULL ORDER BY created_ms')
        .all() as ScheduleRow[]
    ).map((r) => this.view(r));
  }

  /** Stops the schedule; jobs it already started run to their end (cancel them separately). */
  delete(id: string, who: Principal, source: string): ScheduleView {
    const r = this.row(id);
    this.jobs.checkRole((JSON.parse(r.spec) as StoredSpec).template, who);
    this.store.stmt('UPDATE schedules SET deleted_ms = ? WHERE id = ?').run(Date.now(), id);
    this.audit.record(who, 'schedule.delete', { schedule_id: id }, { name: r.name }, { source });
    return this.view(r);
  }

  private view(r: ScheduleRow): ScheduleView {
    return {
      id: r.id,
      name: r.name,
      every_ms: r.every_ms,
      run_for_ms: r.run_for_ms,
      sample: r.sample,
      weight: 1 / r.sample,
      job: (JSON.parse(r.spec) as StoredSpec).template,
      created_by: r.created_by,
      created: new Date(r.created_ms).toISOString(),
      next_run: new Date(r.next_run_ms).toISOString(),
      last_job_id: r.last_job_id,
      state: r.paused_ms === null ? 'active' : 'paused',
      paused: r.paused_ms === null ? null : new Date(r.paused_ms).toISOString(),
      paused_reason: r.paused_reason,
    };
  }
}
