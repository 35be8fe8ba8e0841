// SPDX-License-Identifier: Apache-2.0
/**
 * The agent registry: who enrolled, what each host is (labels, kernel,
 * features, collectors, CPUs, version), whether it is connected, when it last
 * sent a heartbeat, and which certificates it holds. States:
 *   enrolled -> connected <-> disconnected -> lost (no heartbeat for lostAfterMs)
 *   any -> revoked (by an admin; final: its certificates are refused)
 * Heartbeat times are kept in memory and written to SQLite by the sweeper, so
 * thousands of agents do not cost a write each per heartbeat.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { HostFacts } from '@fleettrace/proto';
import { CONFIG, LOGGER, PUBLISHER, type ResolvedConfig } from '../config/controller-config.js';
import type { ControlEventPublisher } from '../events/control-event-publisher.js';
import type { JsonLogger } from '@fleettrace/common';
import { StoreService } from '../store/store.service.js';
import { AuditService } from '../audit/audit.service.js';
import { PkiService } from '../pki/pki.service.js';
import type { IssuedCertificate } from '../pki/certificate-authority.js';
import type { Principal } from '../auth/roles.js';
import { AgentSessions } from './agent-sessions.js';

export type AgentState = 'enrolled' | 'connected' | 'disconnected' | 'lost' | 'revoked';

export interface AgentRow {
  id: string;
  hostname: string;
  labels: string;
  kernel: string;
  features: string;
  missing_features: string;
  collectors: string;
  cpus: number;
  agent_version: string;
  state: AgentState;
  state_reason: string;
  enrolled_ms: number;
  connected_ms: number | null;
  last_heartbeat_ms: number | null;
  overhead_share: number;
  cert_serial: string | null;
  cert_not_after_ms: number | null;
  revoked_ms: number | null;
}

/** An agent as the API shows it. */
export interface AgentInfo {
  id: string;
  hostname: string;
  labels: Record<string, string>;
  kernel: string;
  features: string[];
  missing_features: Record<string, string>;
  collectors: string[];
  cpus: number;
  agent_version: string;
  state: AgentState;
  state_reason: string;
  enrolled: string;
  connected: string | null;
  last_heartbeat: string | null;
  overhead_share: number;
  certificate: { serial: string | null; not_after: string | null };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function agentInfo(r: AgentRow): AgentInfo {
  return {
    id: r.id,
    hostname: r.hostname,
    labels: JSON.parse(r.labels),
    kernel: r.kernel,
    features: JSON.parse(r.features),
    missing_features: JSON.parse(r.missing_features),
    collectors: JSON.parse(r.collectors),
    cpus: r.cpus,
    agent_version: r.agent_version,
    state: r.state,
    state_reason: r.state_reason,
    enrolled: iso(r.enrolled_ms) as string,
    connected: iso(r.connected_ms),
    last_heartbeat: iso(r.last_heartbeat_ms),
    overhead_share: r.overhead_share,
    certificate: { serial: r.cert_serial, not_after: iso(r.cert_not_after_ms) },
  };
}

/** Emitted as 'gone' (agentId, reason, state) when an agent is lost or revoked: its runs end. */
export interface AgentsEvents {
  gone: [agentId: string, reason: string, state: 'lost' | 'revoked'];
}

@Injectable()
export class AgentsService {
  readonly events = new EventEmitter<AgentsEvents>();
  private readonly heartbeats = new Map<string, { ms: number; overhead: number }>();
  /** agents whose heartbeat changed since the last write to SQLite */
  private readonly unflushed = new Set<string>();
  private readonly log: JsonLogger;

  constructor(
    private readonly store: StoreService,
    private readonly pki: PkiService,
    private readonly audit: AuditService,
    private readonly sessions: AgentSessions,
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(PUBLISHER) private readonly publisher: ControlEventPublisher,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'agents' });
    // After a restart no stream is open: connected agents are disconnected
    // until they come back (or are marked lost by the sweeper).
    const n = this.store
      .stmt(
        "UPDATE agents SET state = 'disconnected', state_reason = 'controller restarted' WHERE state = 'connected'",
      )
      .run().changes;
    if (n > 0) this.log.info('agents await reconnection after a restart', { agents: n });
  }

  row(id: string): AgentRow | undefined {
    return this.store.stmt('SELECT * FROM agents WHERE id = ?').get(id) as AgentRow | undefined;
  }

  get(id: string): AgentInfo {
    const r = this.row(id);
    if (!r) throw new NotFoundException(`agent ${id}: no such agent`);
    return this.withLiveHeartbeat(agentInfo(r));
  }

  list(filter: { state?: string } = {}): AgentInfo[] {
    const rows = this.store
      .stmt('SELECT * FROM agents WHERE (@state IS NULL OR state = @state) ORDER BY hostname, id')
      .all({ state: filter.state ?? null }) as AgentRow[];
    return rows.map((r) => this.withLiveHeartbeat(agentInfo(r)));
  }

  /** Every agent that can still run jobs (not revoked). */
  candidates(): AgentRow[] {
    return this.store.stmt("SELECT * FROM agents WHERE state != 'revoked'").all() as AgentRow[];
  }

  private withLiveHeartbeat(a: AgentInfo): AgentInfo {
    const hb = this.heartbeats.get(a.id);
    if (hb) {
      a.last_heartbeat = new Date(hb.ms).toISOString();
      a.overhead_share = hb.overhead;
    }
    return a;
  }

  /**
   * Registers an enrolling host and issues its certificate. A host name seen
   * before (a host that lost its state directory) keeps its agent id, and its
   * old certificates are revoked; while that agent is connected the name is
   * taken and enrollment is refused.
   */
  async enroll(
    req: { hostname: string; labels: Record<string, string>; csrPem: string },
    tokenName: string,
    /** the gRPC peer, for the audit log */
    peer: string,
  ): Promise<{ agentId: string; cert: IssuedCertificate }> {
    const existing = this.store
      .stmt(
        "SELECT * FROM agents WHERE hostname = ? AND state != 'revoked' ORDER BY enrolled_ms DESC LIMIT 1",
      )
      .get(req.hostname) as AgentRow | undefined;
    if (existing && this.sessions.get(existing.id))
      throw new ConflictException(
        `hostname: ${req.hostname} is enrolled and connected as agent ${existing.id}; revoke it first or use another --hostname`,
      );
    const agentId = existing?.id ?? `agt_${randomBytes(8).toString('hex')}`;
    const cert = await this.pki.issueClientCertificate(req.csrPem, agentId);
    const now = Date.now();
    this.store.transaction(() => {
      if (existing) {
        this.store
          .stmt(
            'INSERT OR IGNORE INTO revocations (serial, agent_id, revoked_ms, reason) SELECT serial, agent_id, ?, ? FROM certificates WHERE agent_id = ?',
          )
          .run(now, 're-enrolled', agentId);
        this.store
          .stmt(
            "UPDATE agents SET labels = ?, state = 'enrolled', state_reason = 're-enrolled', enrolled_ms = ? WHERE id = ?",
          )
          .run(JSON.stringify(req.labels), now, agentId);
      } else {
        this.store
          .stmt(
            "INSERT INTO agents (id, hostname, labels, state, enrolled_ms) VALUES (?, ?, ?, 'enrolled', ?)",
          )
          .run(agentId, req.hostname, JSON.stringify(req.labels), now);
      }
      this.recordCertificate(agentId, cert);
    });
    this.audit.record(
      { name: `bootstrap token ${tokenName}`, role: 'agent' },
      'agent.enroll',
      {
        agent_id: agentId,
        hostname: req.hostname,
      },
      { labels: req.labels, serial: cert.serial, reenrolled: Boolean(existing) },
      { source: peer },
    );
    this.publishAgent(agentId);
    return { agentId, cert };
  }

  /** A new certificate for a connected agent's new key. */
  async renew(agentId: string, csrPem: string): Promise<IssuedCertificate> {
    const cert = await this.pki.issueClientCertificate(csrPem, agentId);
    this.store.transaction(() => this.recordCertificate(agentId, cert));
    this.log.info('certificate renewed', {
      agent_id: agentId,
      serial: cert.serial,
      not_after: iso(cert.notAfterMs),
    });
    return cert;
  }

  private recordCertificate(agentId: string, cert: IssuedCertificate): void {
    this.store
      .stmt(
        'INSERT INTO certificates (serial, agent_id, issued_ms, not_after_ms) VALUES (?, ?, ?, ?)',
      )
      .run(cert.serial, agentId, Date.now(), cert.notAfterMs);
    this.store
      .stmt('UPDATE agents SET cert_serial = ?, cert_not_after_ms = ? WHERE id = ?')
      .run(cert.serial, cert.notAfterMs, agentId);
  }

  /**
   * Why a client certificate must be refused, or undefined when it is good:
   * the CA signature and validity dates were already checked by TLS; this
   * checks the registry (unknown agent, revoked agent, revoked or unknown serial).
   */
  refuseCertificate(agentId: string, serial: string): string | undefined {
    const agent = this.row(agentId);
    if (!agent) return `agent ${agentId} is not registered`;
    if (agent.state === 'revoked') return `agent ${agentId} was revoked`;
    const issued = this.store
      .stmt('SELECT agent_id FROM certificates WHERE serial = ?')
      .get(serial) as { agent_id: string } | undefined;
    if (!issued || issued.agent_id !== agentId)
      return `certificate ${serial} was not issued to agent ${agentId}`;
    const revoked = this.store
      .stmt('SELECT reason FROM revocations WHERE serial = ?')
      .get(serial) as { reason: string } | undefined;
    if (revoked) return `certificate ${serial} was revoked (${revoked.reason})`;
    return undefined;
  }

  /** Hello accepted: store the host facts and mark the agent connected. */
  connected(agentId: string, facts: HostFacts): void {
    const now = Date.now();
    this.store
      .stmt(
        `UPDATE agents SET hostname = ?, labels = ?, kernel = ?, features = ?, missing_features = ?, collectors = ?,
           cpus = ?, agent_version = ?, state = 'connected', state_reason = '', connected_ms = ?, last_heartbeat_ms = ?
         WHERE id = ?`,
      )
      .run(
        facts.hostname,
        JSON.stringify(facts.labels ?? {}),
        facts.kernel,
        JSON.stringify(facts.features ?? []),
        JSON.stringify(facts.missingFeatures ?? {}),
        JSON.stringify(facts.collectors ?? []),
        facts.cpus,
        facts.agentVersion,
        now,
        now,
        agentId,
      );
    this.heartbeats.set(agentId, { ms: now, overhead: 0 });
    this.publishAgent(agentId);
  }

  heartbeat(agentId: string, overheadShare: number): void {
    this.heartbeats.set(agentId, { ms: Date.now(), overhead: overheadShare });
    this.unflushed.add(agentId);
  }

  /** The stream ended (agent stopped, network, controller closing). */
  disconnected(agentId: string, reason: string): void {
    this.flushHeartbeat(agentId);
    const changed = this.store
      .stmt(
        "UPDATE agents SET state = 'disconnected', state_reason = ? WHERE id = ? AND state = 'connected'",
      )
      .run(reason, agentId).changes;
    if (changed) this.publishAgent(agentId);
  }

  private flushHeartbeat(agentId: string): void {
    this.unflushed.delete(agentId);
    const hb = this.heartbeats.get(agentId);
    if (!hb) return;
    this.store
      .stmt('UPDATE agents SET last_heartbeat_ms = ?, overhead_share = ? WHERE id = ?')
      .run(hb.ms, hb.overhead, agentId);
  }

  /**
   * Writes heartbeat times and marks agents lost that sent none for
   * lostAfterMs (connected ones whose stream is half-dead included: their
   * stream is closed). Returns the ids marked lost.
   */
  sweep(now = Date.now()): string[] {
    if (this.unflushed.size > 0)
      this.store.transaction(() => {
        for (const id of [...this.unflushed]) this.flushHeartbeat(id);
      });
    const cutoff = now - this.config.lostAfterMs;
    const stale = this.store
      .stmt(
        `SELECT id, hostname, state FROM agents WHERE state IN ('connected', 'disconnected', 'enrolled')
           AND COALESCE(last_heartbeat_ms, enrolled_ms) < ?`,
      )
      .all(cutoff) as Array<{ id: string; hostname: string; state: string }>;
    const lost: string[] = [];
    for (const a of stale) {
      // An enrolled agent that never connected is not lost: it may not have started yet.
      if (a.state === 'enrolled') continue;
      const reason = `no heartbeat for ${Math.round(this.config.lostAfterMs / 1000)}s`;
      const session = this.sessions.get(a.id);
      if (session) {
        session.close(4 /* DEADLINE_EXCEEDED */, `agent lost: ${reason}`);
        this.sessions.remove(session);
      }
      this.store
        .stmt("UPDATE agents SET state = 'lost', state_reason = ? WHERE id = ?")
        .run(reason, a.id);
      this.heartbeats.delete(a.id);
      this.log.warn('agent lost', { agent_id: a.id, hostname: a.hostname, reason });
      this.publishAgent(a.id);
      this.events.emit('gone', a.id, `agent lost: ${reason}`, 'lost');
      lost.push(a.id);
    }
    return lost;
  }

  /** Revokes an agent: its certificates are refused from now on and its stream is closed. */
  revoke(agentId: string, by: Principal, reason: string, source: string): AgentInfo {
    const agent = this.row(agentId);
    if (!agent) throw new NotFoundException(`agent ${agentId}: no such agent`);
    if (agent.state !== 'revoked') {
      const now = Date.now();
      this.store.transaction(() => {
        this.store
          .stmt(
            'INSERT OR IGNORE INTO revocations (serial, agent_id, revoked_ms, reason) SELECT serial, agent_id, ?, ? FROM certificates WHERE agent_id = ?',
          )
          .run(now, `agent revoked: ${reason}`, agentId);
        this.store
          .stmt(
            "UPDATE agents SET state = 'revoked', state_reason = ?, revoked_ms = ? WHERE id = ?",
          )
          .run(reason, now, agentId);
      });
      const session = this.sessions.get(agentId);
      if (session) {
        session.close(7 /* PERMISSION_DENIED */, `agent revoked: ${reason}`);
        this.sessions.remove(session);
      }
      this.heartbeats.delete(agentId);
      this.audit.record(
        by,
        'agent.revoke',
        { agent_id: agentId, hostname: agent.hostname },
        { reason },
        { source },
      );
      this.publishAgent(agentId);
      this.events.emit('gone', agentId, `agent revoked: ${reason}`, 'revoked');
    }
    return this.get(agentId);
  }

  publishAgent(agentId: string): void {
    const r = this.row(agentId);
    if (!r) return;
    this.publisher.publish({
      unixMs: Date.now(),
      body: {
        $case: 'agent',
        value: {
          agentId: r.id,
          host: r.hostname,
          state: r.state,
          labelsJson: r.labels,
          kernel: r.kernel,
        },
      },
    });
  }
}
