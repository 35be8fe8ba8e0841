// SPDX-License-Identifier: Apache-2.0
/**
 * Jobs and their per-host runs, and dispatch to connected agents.
 *
 * A job's window is [start, end). At creation a run is made for every
 * registered agent that matches the targets (a random sample of them when the
 * targets or the schedule say so); connected agents get the assignment at
 * once, the others when they connect while the window is open. Agents that
 * enroll later and match an unsampled job also join while it is open.
 *
 * Run states: pending -> running -> finished | failed | throttled | cancelled
 * | lost. The agent reports every state; the controller itself sets `lost`
 * (agent lost, or no final status after the window) and `cancelled` for runs
 * of agents that are not connected when a job is cancelled. A `lost` run whose
 * agent comes back reporting it takes the agent's state again: lost means
 * "unknown", not "ended".
 */
import { randomBytes } from 'node:crypto';
import {
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
  ConflictException,
} from '@nestjs/common';
import {
  RunState,
  type ControllerMessage,
  type JobAssignment,
  type JobStatus,
} from '@fleettrace/proto';
import { CONFIG, LOGGER, PUBLISHER, type ResolvedConfig } from '../config/controller-config.js';
import type { ControlEventPublisher } from '../events/control-event-publisher.js';
import { ValidationError, type JsonLogger } from '@fleettrace/common';
import { StoreService } from '../store/store.service.js';
import { AuditService } from '../audit/audit.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { AgentSessions } from '../agents/agent-sessions.js';
import { AgentsService, type AgentRow } from '../agents/agents.service.js';
import { roleAtLeast, adminOnlyCollectors, type Principal } from '../auth/roles.js';
import { sampleOf, TargetMatcher } from './host-targets.js';
import { OPERATOR_MAX_OVERHEAD_BUDGET, sensitiveCollectors, type JobSpec } from './job-spec.js';

export const RUN_STATES = [
  'pending',
  'running',
  'finished',
  'failed',
  'throttled',
  'cancelled',
  'lost',
] as const;
export type RunStateName = (typeof RUN_STATES)[number];
const TERMINAL = new Set<RunStateName>(['finished', 'failed', 'throttled', 'cancelled']);
/** How often a run's counters alone are published to the job_runs mirror (see applyStatus). */
const RUN_COUNTERS_PUBLISH_MS = 30_000;
export const JOB_STATES = ['running', 'finished', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

const FROM_WIRE: Record<number, RunStateName | undefined> = {
  [RunState.RUN_STATE_PENDING]: 'pending',
  [RunState.RUN_STATE_RUNNING]: 'running',
  [RunState.RUN_STATE_FINISHED]: 'finished',
  [RunState.RUN_STATE_FAILED]: 'failed',
  [RunState.RUN_STATE_THROTTLED]: 'throttled',
  [RunState.RUN_STATE_CANCELLED]: 'cancelled',
  [RunState.RUN_STATE_LOST]: 'lost',
};

interface JobRow {
  id: string;
  spec: string;
  state: JobState;
  created_by: string;
  created_ms: number;
  start_ms: number;
  end_ms: number;
  schedule_id: string | null;
  weight: number;
  cancelled_ms: number | null;
  cancel_reason: string | null;
  updated_ms: number;
}

interface RunRow {
  id: string;
  job_id: string;
  agent_id: string;
  host: string;
  state: RunStateName;
  reason: string;
  events_sent: number;
  events_acked: number;
  events_lost: number;
  overhead_share: number;
  weight: number;
  created_ms: number;
  dispatched_ms: number | null;
  acked_ms: number | null;
  ended_ms: number | null;
  updated_ms: number;
}

export interface RunView {
  id: string;
  agent_id: string;
  host: string;
  state: RunStateName;
  reason: string;
  /** rows the agent handed to its publisher */
  events_sent: number;
  /** of those, rows the bus acknowledged */
  events_acked: number;
  events_lost: number;
  overhead_share: number;
  weight: number;
  dispatched: string | null;
  acked: string | null;
  ended: string | null;
  /** ms from job creation to the agent's first status for this run */
  ack_latency_ms: number | null;
}

export interface JobView {
  id: string;
  state: JobState;
  spec: JobSpec;
  created_by: string;
  created: string;
  start: string;
  end: string;
  schedule_id: string | null;
  weight: number;
  cancelled: string | null;
  cancel_reason: string | null;
  runs_by_state: Partial<Record<RunStateName, number>>;
  events_sent: number;
  events_acked: number;
  events_lost: number;
  runs?: RunView[];
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const newId = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;

export interface CreateOptions {
  scheduleId?: string;
  /** fraction of matching hosts chosen for this job (a schedule's p); overrides targets.sample */
  sample?: number;
  /** for the audit log: the client address, or `schedule:<id>` */
  source?: string;
}

@Injectable()
export class JobsService {
  private readonly log: JsonLogger;
  /** when each unfinished run was last published on the bus */
  private readonly runPublishedMs = new Map<string, number>();

  constructor(
    private readonly store: StoreService,
    private readonly agents: AgentsService,
    private readonly sessions: AgentSessions,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(PUBLISHER) private readonly publisher: ControlEventPublisher,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'jobs' });
    this.agents.events.on('gone', (agentId, reason, state) =>
      this.agentGone(agentId, reason, state),
    );
  }

  /**
   * Refuses limits above what the caller's role may set, naming the field:
   * below admin, an overhead budget of at most OPERATOR_MAX_OVERHEAD_BUDGET.
   * Checked when a job is created, not when one is cancelled.
   */
  checkLimits(spec: JobSpec, who: Principal): void {
    if (roleAtLeast(who.role, 'admin')) return;
    if (spec.limits.overhead_budget > OPERATOR_MAX_OVERHEAD_BUDGET)
      throw new ValidationError(
        'limits.overhead_budget',
        `must be at most ${OPERATOR_MAX_OVERHEAD_BUDGET} (${OPERATOR_MAX_OVERHEAD_BUDGET * 100}% of host CPU) for the ${who.role} role; only admins may set up to 1, got ${spec.limits.overhead_budget}`,
      );
  }

  /** Refuses collectors that need the admin role, naming the field. */
  checkRole(spec: JobSpec, who: Principal): void {
    if (roleAtLeast(who.role, 'admin')) return;
    const sensitive = sensitiveCollectors(spec, adminOnlyCollectors());
    if (sensitive.length > 0) {
      const [i, name, what] = sensitive[0] as [number, string, string];
      throw new ForbiddenException(
        `collectors[${i}].name: collector ${name} sees sensitive data (${what}) and needs the admin role; token ${who.name} has ${who.role}`,
      );
    }
  }

  create(spec: JobSpec, who: Principal, opts: CreateOptions = {}): JobView {
    if (!roleAtLeast(who.role, 'operator'))
      throw new ForbiddenException(
        `creating jobs needs the operator role; token ${who.name} has ${who.role}`,
      );
    this.checkRole(spec, who);
    this.checkLimits(spec, who);
    const now = Date.now();
    const sample = opts.sample ?? spec.targets.sample ?? 1;
    const weight = 1 / sample;
    const matcher = new TargetMatcher(spec.targets);
    const matching = this.agents
      .candidates()
      .filter((a) => matcher.matches({ hostname: a.hostname, labels: JSON.parse(a.labels) }));
    const chosen = sampleOf(matching, sample);
    const job: JobRow = {
      id: newId('job'),
      spec: JSON.stringify(spec),
      state: 'running',
      created_by: `${who.name} (${who.tokenId})`,
      created_ms: now,
      start_ms: now,
      end_ms: now + spec.duration_ms,
      schedule_id: opts.scheduleId ?? null,
      weight,
      cancelled_ms: null,
      cancel_reason: null,
      updated_ms: now,
    };
    const runs: RunRow[] = chosen.map((a) => this.newRun(job, a, now));
    this.store.transaction(() => {
      this.store
        .stmt(
          `INSERT INTO jobs (id, spec, state, created_by, created_ms, start_ms, end_ms, schedule_id, weight, updated_ms)
           VALUES (@id, @spec, @state, @created_by, @created_ms, @start_ms, @end_ms, @schedule_id, @weight, @updated_ms)`,
        )
        .run(job);
      for (const r of runs) this.insertRun(r);
    });
    this.audit.record(
      who,
      'job.create',
      { job_id: job.id, hosts: chosen.map((a) => a.hostname) },
      {
        collectors: spec.collectors,
        targets: spec.targets,
        filters: spec.filters,
        duration_ms: spec.duration_ms,
        matching_hosts: matching.length,
        sample,
        schedule_id: opts.scheduleId ?? null,
      },
      { source: opts.source ?? '' },
    );
    this.publishJob(job);
    const byId = new Map(chosen.map((a) => [a.id, a]));
    for (const r of runs) this.dispatch(job, r, spec, byId.get(r.agent_id) as AgentRow);
    this.log.info('job created', {
      job_id: job.id,
      collectors: spec.collectors.map((c) => c.name),
      hosts: runs.length,
      matching: matching.length,
      created_by: job.created_by,
    });
    return this.view(job, true);
  }

  private newRun(job: JobRow, agent: AgentRow, now: number): RunRow {
    return {
      id: newId('run'),
      job_id: job.id,
      agent_id: agent.id,
      host: agent.hostname,
      state: 'pending',
      reason: '',
      events_sent: 0,
      events_acked: 0,
      events_lost: 0,
      overhead_share: 0,
      weight: job.weight,
      created_ms: now,
      dispatched_ms: null,
      acked_ms: null,
      ended_ms: null,
      updated_ms: now,
    };
  }

  private insertRun(r: RunRow): void {
    this.store
      .stmt(
        `INSERT INTO runs (id, job_id, agent_id, host, state, reason, weight, created_ms, updated_ms)
         VALUES (@id, @job_id, @agent_id, @host, @state, @reason, @weight, @created_ms, @updated_ms)`,
      )
      .run({
        id: r.id,
        job_id: r.job_id,
        agent_id: r.agent_id,
        host: r.host,
        state: r.state,
        reason: r.reason,
        weight: r.weight,
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
      });
  }

  /**
   * Sends a run's assignment if its agent is connected. An agent that said it
   * lacks one of the job's collectors gets no assignment: the run fails with
   * that reason at once.
   */
  private dispatch(job: JobRow, run: RunRow, spec: JobSpec, agent: AgentRow): void {
    const session = this.sessions.get(run.agent_id);
    if (!session) return;
    const has = new Set<string>(JSON.parse(agent.collectors));
    const missing = spec.collectors.map((c) => c.name).filter((n) => !has.has(n));
    if (has.size > 0 && missing.length > 0) {
      this.setRunState(
        run,
        'failed',
        `${agent.hostname} cannot run collector ${missing.join(', ')} (it has ${[...has].join(', ')})`,
      );
      return;
    }
    const message: ControllerMessage = {
      body: { $case: 'assign', value: this.assignment(job, run, spec) },
    };
    if (session.send(message)) {
      this.metrics.grpcMessages.inc({ direction: 'out', type: 'assign' });
      const now = Date.now();
      this.store.stmt('UPDATE runs SET dispatched_ms = ? WHERE id = ?').run(now, run.id);
      run.dispatched_ms = now;
    }
  }

  private assignment(job: JobRow, run: RunRow, spec: JobSpec): JobAssignment {
    return {
      jobId: job.id,
      runId: run.id,
      collectors: spec.collectors.map((c) => ({ name: c.name, params: c.params })),
      filters: { ...spec.filters },
      startUnixMs: job.start_ms,
      endUnixMs: job.end_ms,
      limits: {
        overheadBudget: spec.limits.overhead_budget,
        maxEventsPerSecond: spec.limits.max_events_per_second,
      },
      weight: run.weight,
      intervalMs: spec.interval_ms,
    };
  }

  /**
   * An agent's stream opened (Hello accepted). Takes its runs' statuses,
   * cancels runs the controller no longer wants, and sends every run of an
   * open job it should be running but is not.
   */
  agentConnected(agentId: string, reported: JobStatus[]): void {
    const agent = this.agents.row(agentId);
    if (!agent) return;
    const reportedRuns = new Set<string>();
    for (const status of reported) {
      reportedRuns.add(status.runId);
      this.applyStatus(agentId, status);
    }
    const now = Date.now();
    const open = this.store
      .stmt("SELECT * FROM jobs WHERE state = 'running' AND end_ms > ?")
      .all(now) as JobRow[];
    const labels = JSON.parse(agent.labels) as Record<string, string>;
    for (const job of open) {
      const spec = JSON.parse(job.spec) as JobSpec;
      let run = this.store
        .stmt('SELECT * FROM runs WHERE job_id = ? AND agent_id = ?')
        .get(job.id, agentId) as RunRow | undefined;
      if (!run) {
        // A host that was not there at creation joins an unsampled job; a sampled job keeps its sample.
        if (job.weight !== 1 || job.schedule_id !== null) continue;
        if (!new TargetMatcher(spec.targets).matches({ hostname: agent.hostname, labels }))
          continue;
        run = this.newRun(job, agent, now);
        this.insertRun(run);
        this.publishRun(run);
      }
      if (reportedRuns.has(run.id)) continue;
      if (TERMINAL.has(run.state)) continue;
      this.dispatch(job, run, spec, agent);
    }
  }

  /** One JobStatus from an agent. Statuses for runs of other agents are refused and logged. */
  applyStatus(agentId: string, status: JobStatus): void {
    const run = this.store.stmt('SELECT * FROM runs WHERE id = ?').get(status.runId) as
      | RunRow
      | undefined;
    const session = this.sessions.get(agentId);
    if (!run || run.agent_id !== agentId) {
      this.log.warn('status for a run this agent does not have', {
        agent_id: agentId,
        run_id: status.runId,
        job_id: status.jobId,
      });
      const state = FROM_WIRE[status.state];
      if (session && state && !TERMINAL.has(state))
        session.send({
          body: { $case: 'cancel', value: { jobId: status.jobId, reason: 'unknown run' } },
        });
      return;
    }
    const state = FROM_WIRE[status.state];
    if (!state) {
      this.log.warn('status without a run state', { agent_id: agentId, run_id: run.id });
      return;
    }
    const now = Date.now();
    const before = `${run.state}\0${run.reason}`;
    if (run.acked_ms === null) {
      run.acked_ms = now;
      if (run.dispatched_ms !== null)
        this.metrics.dispatchLatency.observe((now - run.dispatched_ms) / 1000);
    }
    if (!TERMINAL.has(run.state)) {
      run.state = state;
      run.reason = status.reason;
      run.ended_ms = TERMINAL.has(state) ? now : null;
    }
    // Counts only grow: a late, smaller figure (reordering across a reconnect) does not undo a larger one.
    run.events_sent = Math.max(run.events_sent, status.eventsSent);
    run.events_acked = Math.max(run.events_acked, status.eventsAcked);
    run.events_lost = Math.max(run.events_lost, status.eventsLost);
    run.overhead_share = status.overheadShare;
    run.updated_ms = now;
    this.store
      .stmt(
        `UPDATE runs SET state = @state, reason = @reason, events_sent = @events_sent, events_acked = @events_acked, events_lost = @events_lost,
           overhead_share = @overhead_share, acked_ms = @acked_ms, ended_ms = @ended_ms, updated_ms = @updated_ms WHERE id = @id`,
      )
      .run({
        id: run.id,
        state: run.state,
        reason: run.reason,
        events_sent: run.events_sent,
        events_acked: run.events_acked,
        events_lost: run.events_lost,
        overhead_share: run.overhead_share,
        acked_ms: run.acked_ms,
        ended_ms: run.ended_ms,
        updated_ms: run.updated_ms,
      });
    // State and reason changes are published at once; a report that only
    // moves the counters and the overhead figure at most every
    // RUN_COUNTERS_PUBLISH_MS per run. Agents report every few seconds per
    // run, and on `fleettrace up` each published change is an insert into the
    // embedded store: most of an idle host's inserts were these.
    if (
      `${run.state}\0${run.reason}` !== before ||
      now - (this.runPublishedMs.get(run.id) ?? 0) >= RUN_COUNTERS_PUBLISH_MS
    )
      this.publishRun(run);
    // A job cancelled while the agent was away: tell it now.
    if (!TERMINAL.has(state) && session) {
      const job = this.store
        .stmt('SELECT state, cancel_reason FROM jobs WHERE id = ?')
        .get(run.job_id) as { state: JobState; cancel_reason: string | null } | undefined;
      if (job?.state === 'cancelled')
        session.send({
          body: {
            $case: 'cancel',
            value: { jobId: run.job_id, reason: job.cancel_reason ?? 'cancelled' },
          },
        });
    }
  }

  cancel(jobId: string, who: Principal, reason: string, source: string): JobView {
    const job = this.jobRow(jobId);
    if (job.state !== 'running')
      throw new ConflictException(
        `job ${jobId}: is ${job.state}, only a running job can be cancelled`,
      );
    this.checkRole(JSON.parse(job.spec) as JobSpec, who);
    const now = Date.now();
    const text = `cancelled by ${who.name}: ${reason}`;
    this.store
      .stmt(
        "UPDATE jobs SET state = 'cancelled', cancelled_ms = ?, cancel_reason = ?, updated_ms = ? WHERE id = ?",
      )
      .run(now, text, now, jobId);
    job.state = 'cancelled';
    const runs = this.runsOf(jobId).filter((r) => !TERMINAL.has(r.state));
    let sent = 0;
    for (const r of runs) {
      const session = this.sessions.get(r.agent_id);
      if (
        session &&
        r.state !== 'lost' &&
        session.send({ body: { $case: 'cancel', value: { jobId, reason: text } } })
      ) {
        sent++;
        this.metrics.grpcMessages.inc({ direction: 'out', type: 'cancel' });
      } else {
        this.setRunState(r, 'cancelled', `${text} (the agent was not connected)`);
      }
    }
    this.audit.record(
      who,
      'job.cancel',
      { job_id: jobId, hosts: runs.map((r) => r.host) },
      { reason },
      { source },
    );
    this.publishJob(this.jobRow(jobId));
    this.log.info('job cancelled', { job_id: jobId, by: who.name, cancels_sent: sent });
    return this.get(jobId);
  }

  private setRunState(run: RunRow, state: RunStateName, reason: string): void {
    const now = Date.now();
    run.state = state;
    run.reason = reason;
    run.updated_ms = now;
    if (TERMINAL.has(state) || state === 'lost') run.ended_ms = now;
    this.store
      .stmt('UPDATE runs SET state = ?, reason = ?, ended_ms = ?, updated_ms = ? WHERE id = ?')
      .run(state, reason, run.ended_ms, now, run.id);
    this.publishRun(run);
  }

  /** An agent was lost or revoked: its unfinished runs end (lost, or cancelled for a revoked agent). */
  private agentGone(agentId: string, reason: string, state: 'lost' | 'revoked'): void {
    const runs = this.store
      .stmt("SELECT * FROM runs WHERE agent_id = ? AND state IN ('pending', 'running')")
      .all(agentId) as RunRow[];
    for (const r of runs) this.setRunState(r, state === 'revoked' ? 'cancelled' : 'lost', reason);
  }

  /**
   * Ends what is over: runs still unfinished `finalStatusGraceMs` after their
   * job's window (or its cancellation) become lost (or cancelled), and a job
   * whose runs have all ended is finished.
   */
  sweep(now = Date.now()): void {
    const grace = this.config.finalStatusGraceMs;
    const due = this.store
      .stmt(
        `SELECT * FROM jobs WHERE (state = 'running' AND end_ms <= ?) OR (state = 'cancelled' AND cancelled_ms <= ? AND EXISTS
           (SELECT 1 FROM runs WHERE runs.job_id = jobs.id AND runs.state IN ('pending', 'running')))`,
      )
      .all(now, now - grace) as JobRow[];
    for (const job of due) {
      const open = this.store
        .stmt("SELECT * FROM runs WHERE job_id = ? AND state IN ('pending', 'running')")
        .all(job.id) as RunRow[];
      for (const r of open) {
        if (job.state === 'cancelled') {
          this.setRunState(
            r,
            'cancelled',
            `${job.cancel_reason ?? 'cancelled'} (the agent did not confirm)`,
          );
        } else if (r.state === 'pending' && r.acked_ms === null && now >= job.end_ms) {
          this.setRunState(r, 'lost', 'the agent was not connected while the job was open');
        } else if (now >= job.end_ms + grace) {
          this.setRunState(
            r,
            'lost',
            `no final status from the agent within ${Math.round(grace / 1000)}s of the job's end`,
          );
        }
      }
      if (job.state === 'running') {
        const { n } = this.store
          .stmt(
            "SELECT COUNT(*) AS n FROM runs WHERE job_id = ? AND state IN ('pending', 'running')",
          )
          .get(job.id) as { n: number };
        if (n === 0) {
          this.store
            .stmt("UPDATE jobs SET state = 'finished', updated_ms = ? WHERE id = ?")
            .run(now, job.id);
          this.publishJob(this.jobRow(job.id));
          this.log.info('job finished', { job_id: job.id });
        }
      }
    }
  }

  private jobRow(id: string): JobRow {
    const row = this.store.stmt('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    if (!row) throw new NotFoundException(`job ${id}: no such job`);
    return row;
  }

  private runsOf(jobId: string): RunRow[] {
    return this.store
      .stmt('SELECT * FROM runs WHERE job_id = ? ORDER BY host')
      .all(jobId) as RunRow[];
  }

  get(id: string): JobView {
    return this.view(this.jobRow(id), true);
  }

  list(opts: { state?: JobState; limit: number; scheduleId?: string }): JobView[] {
    const rows = this.store
      .stmt(
        `SELECT * FROM jobs WHERE (@state IS NULL OR state = @state) AND (@schedule IS NULL OR schedule_id = @schedule)
         ORDER BY created_ms DESC LIMIT @limit`,
      )
      .all({
        state: opts.state ?? null,
        schedule: opts.scheduleId ?? null,
        limit: opts.limit,
      }) as JobRow[];
    return rows.map((r) => this.view(r, false));
  }

  private view(job: JobRow, withRuns: boolean): JobView {
    const counts = this.store
      .stmt(
        'SELECT state, COUNT(*) AS n, SUM(events_sent) AS sent, SUM(events_acked) AS acked, SUM(events_lost) AS lost FROM runs WHERE job_id = ? GROUP BY state',
      )
      .all(job.id) as Array<{
      state: RunStateName;
      n: number;
      sent: number;
      acked: number;
      lost: number;
    }>;
    const v: JobView = {
      id: job.id,
      state: job.state,
      spec: JSON.parse(job.spec),
      created_by: job.created_by,
      created: iso(job.created_ms) as string,
      start: iso(job.start_ms) as string,
      end: iso(job.end_ms) as string,
      schedule_id: job.schedule_id,
      weight: job.weight,
      cancelled: iso(job.cancelled_ms),
      cancel_reason: job.cancel_reason,
      runs_by_state: Object.fromEntries(counts.map((c) => [c.state, c.n])),
      events_sent: counts.reduce((s, c) => s + c.sent, 0),
      events_acked: counts.reduce((s, c) => s + c.acked, 0),
      events_lost: counts.reduce((s, c) => s + c.lost, 0),
    };
    if (withRuns)
      v.runs = this.runsOf(job.id).map((r) => ({
        id: r.id,
        agent_id: r.agent_id,
        host: r.host,
        state: r.state,
        reason: r.reason,
        events_sent: r.events_sent,
        events_acked: r.events_acked,
        events_lost: r.events_lost,
        overhead_share: r.overhead_share,
        weight: r.weight,
        dispatched: iso(r.dispatched_ms),
        acked: iso(r.acked_ms),
        ended: iso(r.ended_ms),
        ack_latency_ms: r.acked_ms === null ? null : r.acked_ms - job.created_ms,
      }));
    return v;
  }

  private publishJob(job: JobRow): void {
    this.publisher.publish({
      unixMs: Date.now(),
      body: {
        $case: 'job',
        value: { jobId: job.id, specJson: job.spec, state: job.state, createdBy: job.created_by },
      },
    });
  }

  private publishRun(r: RunRow): void {
    // Ended runs (lost ones too: a returning agent changes their state, which publishes at once).
    if (TERMINAL.has(r.state) || r.state === 'lost') this.runPublishedMs.delete(r.id);
    else this.runPublishedMs.set(r.id, Date.now());
    this.publisher.publish({
      unixMs: Date.now(),
      body: {
        $case: 'run',
        value: {
          jobId: r.job_id,
          runId: r.id,
          agentId: r.agent_id,
          host: r.host,
          state: r.state,
          reason: r.reason,
          eventsSent: r.events_sent,
          eventsAcked: r.events_acked,
          eventsLost: r.events_lost,
          overheadShare: r.overhead_share,
          weight: r.weight,
        },
      },
    });
  }
}
