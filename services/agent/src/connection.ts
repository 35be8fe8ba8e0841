// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's mutual-TLS stream to the controller's AgentControl service.
 *
 * - Connect, then Hello with the host facts and the executor's runs (so a
 *   controller that restarted, or a stream that broke, learns what is going on).
 * - Welcome sets the heartbeat interval; heartbeats carry the tracing
 *   overhead; three intervals without an ack end the stream.
 * - Assignments and cancellations go to the executor; its statuses come back
 *   on the stream. The executor never waits for the stream: jobs keep
 *   running while disconnected and the next Hello reports them.
 * - A broken stream is re-opened after a jittered exponential backoff.
 * - At `renewFraction` of the certificate's lifetime a new key is made and
 *   Renew called; the new certificate is stored, a second stream opened with
 *   it, and the old one closed once the new one is welcomed (make before
 *   break), so jobs and the controller's view of the agent never stop.
 *
 * Everything runs on the main thread; no method blocks.
 */
import { EventEmitter } from 'node:events';
import {
  credentials,
  status,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  AgentControlClient,
  type AgentMessage,
  type ControllerMessage,
  type HostFacts,
  type JobStatus,
  type RenewRequest,
  type RenewResponse,
} from '@fleettrace/proto';
import type { JsonLogger } from '@fleettrace/common';
import type { JobExecutor } from './jobs/job-executor';
import type { AgentIdentity, StateDir } from './state-dir';
import { newKeyAndRequest } from './client-key';
import { unary } from './enroll';

export interface ConnectionOptions {
  state: StateDir;
  identity: AgentIdentity;
  executor: JobExecutor;
  /** Host facts for Hello; called on every connect. */
  facts(): HostFacts;
  logger: JsonLogger;
  /** first reconnect delay (default 500 ms); doubles up to backoffMaxMs (default 30 s), with jitter */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** share of the certificate's lifetime after which it is renewed (default 2/3) */
  renewFraction?: number;
  /** heartbeat interval until the controller's Welcome says otherwise (default 5 s) */
  heartbeatMs?: number;
}

export interface ConnectionEvents {
  /** a stream was welcomed */
  connected: [];
  /** the current stream ended */
  disconnected: [reason: string];
  /** a new certificate was stored */
  renewed: [notAfterMs: number];
  /** every controller message, after it was handled */
  message: [ControllerMessage];
}

interface Link {
  client: AgentControlClient;
  stream: ClientDuplexStream<AgentMessage, ControllerMessage>;
  welcomed: boolean;
  closed: boolean;
  heartbeatTimer?: NodeJS.Timeout;
  lastAckMs: number;
  close(reason: string): void;
}

export class AgentConnection extends EventEmitter<ConnectionEvents> {
  private link?: Link;
  /** a replacement stream being opened after renewal */
  private next?: Link;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer?: NodeJS.Timeout;
  private renewTimer?: NodeJS.Timeout;
  private renewing = false;
  private heartbeatMs: number;
  private readonly log: JsonLogger;

  constructor(private readonly opts: ConnectionOptions) {
    super();
    this.heartbeatMs = opts.heartbeatMs ?? 5_000;
    this.log = opts.logger.child({ component: 'connection', agent_id: opts.identity.agent_id });
  }

  get connected(): boolean {
    return Boolean(this.link?.welcomed && !this.link.closed);
  }

  start(): void {
    this.connect();
    this.scheduleRenewal();
  }

  /** Sends a run's status if a stream is open; otherwise the next Hello carries it. */
  sendStatus(s: JobStatus): void {
    this.write(this.link, { body: { $case: 'status', value: s } });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.renewTimer);
    for (const l of [this.next, this.link]) l?.close('agent stopping');
  }

  private channelCredentials(): ChannelCredentials {
    const { keyPem, certPem } = this.opts.state.readCredentials();
    return credentials.createSsl(
      Buffer.from(this.opts.state.readCa()),
      Buffer.from(keyPem),
      Buffer.from(certPem),
    );
  }

  private newClient(): AgentControlClient {
    return new AgentControlClient(this.opts.identity.control_address, this.channelCredentials(), {
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // Each agent's channel is its own (simulated agents share a process, not a connection).
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  private write(link: Link | undefined, message: AgentMessage): boolean {
    if (!link || link.closed) return false;
    try {
      link.stream.write(message);
      return true;
    } catch (err) {
      this.log.warn('write failed', { error: (err as Error).message });
      return false;
    }
  }

  private connect(): void {
    if (this.stopped) return;
    this.link = this.openLink();
  }

  private openLink(): Link {
    let client: AgentControlClient;
    try {
      client = this.newClient();
    } catch (err) {
      // Unreadable credentials: retry later rather than crash the agent.
      this.log.error('cannot create the control client', { error: (err as Error).message });
      const dead: Link = {
        client: undefined as never,
        stream: undefined as never,
        welcomed: false,
        closed: true,
        lastAckMs: 0,
        close() {},
      };
      setImmediate(() => this.onClose(dead, (err as Error).message));
      return dead;
    }
    const stream = client.connect();
    const link: Link = {
      client,
      stream,
      welcomed: false,
      closed: false,
      lastAckMs: Date.now(),
      close: (reason: string) => {
        if (link.closed) return;
        link.closed = true;
        clearInterval(link.heartbeatTimer);
        stream.cancel();
        client.close();
        this.onClose(link, reason);
      },
    };
    stream.on('data', (m: ControllerMessage) => this.onMessage(link, m));
    stream.on('error', (err: ServiceError) => {
      const level =
        err.code === status.PERMISSION_DENIED || err.code === status.UNAUTHENTICATED
          ? 'error'
          : 'warn';
      if (!link.closed && err.code !== status.CANCELLED)
        this.log.write(level, 'control stream failed', {
          code: status[err.code] ?? err.code,
          details: err.details,
        });
      link.close(err.details || err.message);
    });
    stream.on('end', () => link.close('controller ended the stream'));
    this.write(link, {
      body: {
        $case: 'hello',
        value: {
          agentId: this.opts.identity.agent_id,
          facts: this.opts.facts(),
          runs: this.opts.executor.runs(),
        },
      },
    });
    return link;
  }

  private onMessage(link: Link, m: ControllerMessage): void {
    const body = m.body;
    if (!body || link.closed) return;
    try {
      switch (body.$case) {
        case 'welcome':
          this.onWelcome(link, body.value.heartbeatIntervalMs);
          break;
        case 'heartbeatAck':
          link.lastAckMs = Date.now();
          break;
        case 'assign':
          this.log.info('job assigned', {
            job_id: body.value.jobId,
            run_id: body.value.runId,
            collectors: body.value.collectors.map((c) => c.name),
          });
          this.opts.executor.assign(body.value);
          break;
        case 'cancel':
          this.log.info('job cancelled', { job_id: body.value.jobId, reason: body.value.reason });
          this.opts.executor.cancel(body.value.jobId, body.value.reason);
          break;
      }
    } catch (err) {
      // An executor bug must not take the stream down; the controller hears of it.
      this.log.error('handling a controller message failed', {
        type: body.$case,
        error: (err as Error).message,
      });
      this.write(link, {
        body: { $case: 'error', value: { message: (err as Error).message, jobId: '' } },
      });
    }
    this.emit('message', m);
  }

  private onWelcome(link: Link, heartbeatIntervalMs: number): void {
    link.welcomed = true;
    if (heartbeatIntervalMs > 0) this.heartbeatMs = heartbeatIntervalMs;
    link.lastAckMs = Date.now();
    link.heartbeatTimer = setInterval(() => {
      if (Date.now() - link.lastAckMs > 3 * this.heartbeatMs) {
        this.log.warn('no heartbeat ack from the controller; reconnecting', {
          silent_ms: Date.now() - link.lastAckMs,
        });
        link.close('no heartbeat ack');
        return;
      }
      this.write(link, {
        body: {
          $case: 'heartbeat',
          value: { unixMs: Date.now(), overheadShare: this.opts.executor.overheadShare() },
        },
      });
    }, this.heartbeatMs);
    if (link === this.next) {
      const old = this.link;
      this.next = undefined;
      this.link = link;
      old?.close('replaced by a stream with the renewed certificate');
      this.log.info('switched to the renewed certificate');
    }
    this.attempt = 0;
    this.log.info('connected', {
      control: this.opts.identity.control_address,
      heartbeat_ms: this.heartbeatMs,
    });
    this.emit('connected');
  }

  private onClose(link: Link, reason: string): void {
    if (link === this.next) {
      this.next = undefined;
      if (!this.link && !this.stopped) this.scheduleReconnect();
      return;
    }
    if (link !== this.link) return;
    this.link = undefined;
    if (link.welcomed) this.log.info('disconnected', { reason });
    this.emit('disconnected', reason);
    if (!this.next && !this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    const initial = this.opts.backoffInitialMs ?? 500;
    const max = this.opts.backoffMaxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.attempt, 20));
    // Half fixed, half random: a fleet that lost its controller does not come back in lockstep.
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt++;
    this.log.debug('reconnecting', { in_ms: delay, attempt: this.attempt });
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private scheduleRenewal(delayMs?: number): void {
    if (this.stopped) return;
    clearTimeout(this.renewTimer);
    let wait = delayMs;
    if (wait === undefined) {
      const notAfter = this.opts.state.certificateNotAfterMs();
      const received = this.opts.identity.cert_received_ms;
      const fraction = this.opts.renewFraction ?? 2 / 3;
      wait = Math.max(0, received + (notAfter - received) * fraction - Date.now());
    }
    // setTimeout holds at most ~24.8 days; longer waits are re-armed.
    const capped = Math.min(wait, 2 ** 31 - 1);
    this.renewTimer = setTimeout(
      () => (capped < wait ? this.scheduleRenewal() : void this.renew()),
      capped,
    );
    this.renewTimer.unref();
  }

  /** Renews the certificate now. Resolves when the new one is stored (or the attempt failed and is rescheduled). */
  async renew(): Promise<void> {
    if (this.renewing || this.stopped) return;
    this.renewing = true;
    const notAfter = this.opts.state.certificateNotAfterMs();
    let temporary: AgentControlClient | undefined;
    try {
      if (notAfter <= Date.now()) {
        this.log.error(
          'client certificate expired; enroll again with a new bootstrap token (--token)',
          {
            expired: new Date(notAfter).toISOString(),
          },
        );
        return;
      }
      const { keyPem, csrPem } = await newKeyAndRequest(this.opts.identity.hostname);
      const client =
        this.link && !this.link.closed ? this.link.client : (temporary = this.newClient());
      const res = await unary<RenewRequest, RenewResponse>(
        client.renew.bind(client),
        { csrPem },
        10_000,
      );
      this.opts.state.writeCredentials({ keyPem, certPem: res.certificatePem });
      this.opts.identity.cert_received_ms = Date.now();
      this.opts.state.writeIdentity(this.opts.identity);
      this.log.info('certificate renewed', {
        not_after: new Date(res.notAfterUnixMs).toISOString(),
      });
      this.emit('renewed', res.notAfterUnixMs);
      if (this.link && !this.link.closed && !this.stopped) this.next = this.openLink();
      this.scheduleRenewal();
    } catch (err) {
      const e = err as ServiceError;
      const retryMs = Math.min(30_000, Math.max(1_000, (notAfter - Date.now()) / 10));
      this.log.warn('certificate renewal failed; will retry', {
        error: e.details ?? e.message,
        retry_in_ms: Math.round(retryMs),
      });
      this.scheduleRenewal(retryMs);
    } finally {
      temporary?.close();
      this.renewing = false;
    }
  }
}
