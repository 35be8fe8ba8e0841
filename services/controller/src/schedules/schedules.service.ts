// SPDX-License-Identifier: Apache-2.0
/**
 * Schedules for continuous profiling: every `every`, a job that runs for
 * `run_for` on a fraction `sample` of the hosts matching the template's
 * targets, chosen afresh each period; its runs carry weight 1/sample so
 * fleet totals stay unbiased. The first job starts at creation. Periods
 * missed while the controller was down are skipped, not replayed.
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
import { objectWith, optionalString } from '../http/request-fields.js';
import { JobsService } from '../jobs/jobs.service.js';
import { MAX_DURATION_MS, parseJobSpec, parseSample, type JobSpec } from '../jobs/job-spec.js';

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
}

/** Stored with the spec: the creator's role decides what the schedule may run. */
interface StoredSpec {
  template: JobSpec;
  role: Role;
}

const MIN_EVERY_MS = 1_000;

function insertable(row: ScheduleRow): Omit<ScheduleRow, 'last_job_id' | 'deleted_ms'> {
  const { last_job_id: _last, deleted_ms: _deleted, ...rest } = row;
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
  create(body: unknown, who: Principal): ScheduleView {
    if (!roleAtLeast(who.role, 'operator'))
      throw new ForbiddenException(
        `creating schedules needs the operator role; token ${who.name} has ${who.role}`,
      );
    const b = objectWith(body, '', ['name', 'every', 'run_for', 'sample', 'job']);
    const name =
      optionalString(b.name, 'name', {
        max: 100,
        pattern: /^[\w .:@-]+$/,
        hint: 'letters, digits, space and _ . : @ -',
      }) ?? 'unnamed';
    const everyMs = parseDuration('every', b.every, {
      minMs: MIN_EVERY_MS,
      maxMs: 30 * 86_400_000,
    });
    const runForMs = parseDuration('run_for', b.run_for, { minMs: 1_000, maxMs: MAX_DURATION_MS });
    if (runForMs > everyMs)
      throw new ValidationError('run_for', `must not be longer than every (${everyMs}ms)`);
    const sample = b.sample === undefined ? 1 : parseSample(b.sample, 'sample');
    if (b.job === undefined)
      throw new ValidationError('job', 'is required: {targets, collectors, ...}');
    let template: JobSpec;
    try {
      template = parseJobSpec(b.job, { template: true });
    } catch (err) {
      if (err instanceof ValidationError) throw new ValidationError(`job.${err.field}`, err.reason);
      throw err;
    }
    if (template.targets.sample !== undefined)
      throw new ValidationError('job.targets.sample', 'is the schedule\'s "sample" for schedules');
    if (template.interval_ms > runForMs)
      throw new ValidationError('job.interval', `must not be longer than run_for (${runForMs}ms)`);
    this.jobs.checkRole({ ...template, duration_ms: runForMs }, who);
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
    };
    this.store
      .stmt(
        `INSERT INTO schedules (id, name, spec, every_ms, run_for_ms, sample, created_by, created_ms, next_run_ms)
         VALUES (@id, @name, @spec, @every_ms, @run_for_ms, @sample, @created_by, @created_ms, @next_run_ms)`,
      )
      .run(insertable(row));
    this.audit.record(
      who,
      'schedule.create',
      { schedule_id: row.id },
      { name, every_ms: everyMs, run_for_ms: runForMs, sample, job: template },
    );
    this.tick();
    return this.get(row.id);
  }

  /** Starts the jobs of every schedule whose time has come. */
  tick(now = Date.now()): void {
    const due = this.store
      .stmt('SELECT * FROM schedules WHERE deleted_ms IS NULL AND next_run_ms <= ?')
      .all(now) as ScheduleRow[];
    for (const s of due) {
      const periods = Math.floor((now - s.next_run_ms) / s.every_ms) + 1;
      const next = s.next_run_ms + periods * s.every_ms;
      this.store.stmt('UPDATE schedules SET next_run_ms = ? WHERE id = ?').run(next, s.id);
      try {
        const stored = JSON.parse(s.spec) as StoredSpec;
        const job = this.jobs.create(
          { ...stored.template, duration_ms: s.run_for_ms },
          { tokenId: `schedule:${s.id}`, name: `schedule ${s.name}`, role: stored.role },
          { scheduleId: s.id, sample: s.sample },
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
  delete(id: string, who: Principal): ScheduleView {
    const r = this.row(id);
    this.jobs.checkRole((JSON.parse(r.spec) as StoredSpec).template, who);
    this.store.stmt('UPDATE schedules SET deleted_ms = ? WHERE id = ?').run(Date.now(), id);
    this.audit.record(who, 'schedule.delete', { schedule_id: id }, { name: r.name });
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
    };
  }
}
