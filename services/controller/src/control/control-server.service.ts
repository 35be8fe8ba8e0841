// SPDX-License-Identifier: Apache-2.0
/**
 * The gRPC AgentControl server, on its own listener with mutual TLS: TLS
 * itself refuses a connection without a client certificate, or with one the
 * CA did not sign or that has expired; each call then checks the registry
 * (the certificate's agent is known and not revoked, its serial not revoked).
 *
 * Connect: the first message must be Hello; the controller answers Welcome
 * (with the heartbeat interval), registers the session, and hands the
 * agent's runs to the jobs service, which sends what the agent is missing.
 * Renew: a new certificate for the calling agent's new key.
 */
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  Server,
  ServerCredentials,
  status,
  type ServerDuplexStream,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import {
  AgentControlService,
  type AgentMessage,
  type ControllerMessage,
  type RenewRequest,
  type RenewResponse,
} from '@fleettrace/proto';
import {
  CONFIG,
  formatHostPort,
  LOGGER,
  type ResolvedConfig,
} from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { PkiService } from '../pki/pki.service.js';
import { AgentsService } from '../agents/agents.service.js';
import { AgentSessions, type AgentSession } from '../agents/agent-sessions.js';
import { JobsService } from '../jobs/jobs.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { grpcError, toGrpcError } from '../grpc/grpc-errors.js';
import { shutdownServer } from '../grpc/shutdown-server.js';

/** How long a new stream may take to send Hello. */
const HELLO_TIMEOUT_MS = 10_000;

/** What identify() needs of a call, unary or streaming. */
interface ServerSurfaceCall {
  getAuthContext(): { sslPeerCertificate?: import('node:tls').PeerCertificate };
  getPeer(): string;
}

interface PeerIdentity {
  agentId: string;
  serial: string;
  notAfterMs: number;
}

@Injectable()
export class ControlServerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private server?: Server;
  private readonly log: JsonLogger;
  address?: string;
  private expiryTimer?: NodeJS.Timeout;

  constructor(
    private readonly pki: PkiService,
    private readonly agents: AgentsService,
    private readonly sessions: AgentSessions,
    private readonly jobs: JobsService,
    private readonly metrics: MetricsService,
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'control' });
  }

  async onApplicationBootstrap(): Promise<void> {
    const server = new Server({
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      // Notice dead peers (a host that vanished without closing its socket).
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      // A connection with no call in flight (never an agent's: its Connect stream stays
      // open) is closed after 2 minutes. No max_connection_age: it would end the stream.
      'grpc.max_connection_idle_ms': 2 * 60_000,
    });
    server.addService(AgentControlService, {
      connect: (call: ServerDuplexStream<AgentMessage, ControllerMessage>) => this.connect(call),
      renew: (
        call: ServerUnaryCall<RenewRequest, RenewResponse>,
        cb: sendUnaryData<RenewResponse>,
      ) => this.renew(call, cb),
    });
    const { keyPem, certPem } = this.pki.serverKeyPair;
    const creds = ServerCredentials.createSsl(
      Buffer.from(this.pki.caPem),
      [{ private_key: Buffer.from(keyPem), cert_chain: Buffer.from(certPem) }],
      true,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(formatHostPort(this.config.controlListen), creds, (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.server = server;
    this.address = formatHostPort({ host: this.config.controlListen.host, port });
    // A stream outlives the certificate it was opened with unless someone ends it:
    // agents renew and reconnect before expiry, so a stream past it is ended.
    this.expiryTimer = setInterval(
      () => this.endExpiredSessions(),
      Math.min(this.config.sweepIntervalMs, 1000),
    );
    this.expiryTimer.unref();
    this.log.info('agent control listening', { address: this.address, tls: 'mutual' });
  }

  /** The agent a call comes from, or why it is refused. */
  private identify(call: ServerSurfaceCall): PeerIdentity | { refused: string } {
    const cert = call.getAuthContext().sslPeerCertificate;
    if (!cert?.subject) return { refused: 'no client certificate' };
    const agentId = String(cert.subject.CN ?? '');
    const serial = String(cert.serialNumber ?? '')
      .toUpperCase()
      .replace(/^0+/, '');
    const notAfterMs = Date.parse(cert.valid_to);
    if (!agentId.startsWith('agt_'))
      return { refused: `certificate subject ${agentId} is not an agent` };
    if (!(notAfterMs > Date.now()))
      return { refused: `certificate ${serial} expired at ${cert.valid_to}` };
    const refused = this.agents.refuseCertificate(agentId, serial);
    return refused ? { refused } : { agentId, serial, notAfterMs };
  }

  private connect(call: ServerDuplexStream<AgentMessage, ControllerMessage>): void {
    const peer = call.getPeer();
    const who = this.identify(call);
    if ('refused' in who) {
      this.log.warn('agent stream refused', { peer, reason: who.refused });
      call.emit('error', grpcError(status.PERMISSION_DENIED, who.refused));
      return;
    }
    this.metrics.grpcStreams.inc();
    let session: AgentSession | undefined;
    let ended = false;
    const helloTimer = setTimeout(() => {
      if (!session) finish(status.DEADLINE_EXCEEDED, `no Hello within ${HELLO_TIMEOUT_MS / 1000}s`);
    }, HELLO_TIMEOUT_MS);

    const finish = (code: number | undefined, reason: string): void => {
      if (ended) return;
      ended = true;
      clearTimeout(helloTimer);
      this.metrics.grpcStreams.dec();
      if (code === undefined || code === status.OK) call.end();
      else call.emit('error', grpcError(code, reason));
      if (session && this.sessions.remove(session)) {
        this.agents.disconnected(who.agentId, reason);
        this.log.info('agent disconnected', {
          agent_id: who.agentId,
          hostname: session.hostname,
          reason,
        });
      }
    };

    const send = (message: ControllerMessage): boolean => {
      if (ended || call.destroyed || call.writableEnded) return false;
      try {
        call.write(message);
        return true;
      } catch (err) {
        this.log.warn('write to agent stream failed', {
          agent_id: who.agentId,
          error: err as Error,
        });
        return false;
      }
    };

    call.on('data', (message: AgentMessage) => {
      // A replaced or refused stream may still deliver what was in flight: it no longer counts.
      if (ended) return;
      try {
        const body = message.body;
        if (!body) return;
        this.metrics.grpcMessages.inc({ direction: 'in', type: body.$case });
        if (!session) {
          if (body.$case !== 'hello') {
            finish(
              status.FAILED_PRECONDITION,
              `the first message must be Hello, got ${body.$case}`,
            );
            return;
          }
          const hello = body.value;
          if (hello.agentId && hello.agentId !== who.agentId) {
            finish(
              status.PERMISSION_DENIED,
              `Hello names agent ${hello.agentId} but the certificate is ${who.agentId}'s`,
            );
            return;
          }
          if (!hello.facts?.hostname) {
            finish(status.INVALID_ARGUMENT, 'facts.hostname: is required in Hello');
            return;
          }
          clearTimeout(helloTimer);
          session = {
            agentId: who.agentId,
            hostname: hello.facts.hostname,
            certSerial: who.serial,
            certNotAfterMs: who.notAfterMs,
            connectedMs: Date.now(),
            send,
            close: (code, reason) => finish(code, reason),
          };
          const previous = this.sessions.add(session);
          if (previous)
            previous.close(status.ABORTED, 'replaced by a newer stream of the same agent');
          this.agents.connected(who.agentId, hello.facts);
          send({
            body: {
              $case: 'welcome',
              value: {
                agentId: who.agentId,
                heartbeatIntervalMs: this.config.heartbeatIntervalMs,
                unixMs: Date.now(),
                ...(this.config.bus ? { bus: this.config.bus } : {}),
              },
            },
          });
          this.log.info('agent connected', {
            agent_id: who.agentId,
            hostname: hello.facts.hostname,
            peer,
            runs: hello.runs.length,
            replaced: Boolean(previous),
          });
          this.jobs.agentConnected(who.agentId, hello.runs);
          return;
        }
        switch (body.$case) {
          case 'heartbeat':
            this.agents.heartbeat(who.agentId, body.value.overheadShare);
            send({ body: { $case: 'heartbeatAck', value: { unixMs: Date.now() } } });
            break;
          case 'status':
            this.jobs.applyStatus(who.agentId, body.value);
            break;
          case 'error':
            this.log.warn('agent reports an error', {
              agent_id: who.agentId,
              job_id: body.value.jobId,
              error: body.value.message,
            });
            break;
          case 'hello':
            finish(status.FAILED_PRECONDITION, 'Hello sent twice on one stream');
            break;
        }
      } catch (err) {
        this.log.error('handling an agent message failed', {
          agent_id: who.agentId,
          error: (err as Error).message,
          stack: (err as Error).stack,
        });
      }
    });
    call.on('end', () => finish(status.OK, 'agent closed the stream'));
    call.on('cancelled', () => finish(undefined, 'stream cancelled (connection closed)'));
    call.on('error', (err: Error) => finish(undefined, `stream error: ${err.message}`));
  }

  private renew(
    call: ServerUnaryCall<RenewRequest, RenewResponse>,
    cb: sendUnaryData<RenewResponse>,
  ): void {
    const who = this.identify(call);
    if ('refused' in who) {
      this.log.warn('renewal refused', { peer: call.getPeer(), reason: who.refused });
      cb(grpcError(status.PERMISSION_DENIED, who.refused));
      return;
    }
    this.agents.renew(who.agentId, call.request.csrPem).then(
      (cert) => cb(null, { certificatePem: cert.pem, notAfterUnixMs: cert.notAfterMs }),
      (err) => cb(toGrpcError(err)),
    );
  }

  private endExpiredSessions(): void {
    const now = Date.now();
    for (const s of [...this.sessions.all()]) {
      if (s.certNotAfterMs <= now)
        s.close(status.UNAUTHENTICATED, 'client certificate expired: renew and reconnect');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    for (const s of [...this.sessions.all()])
      s.close(status.UNAVAILABLE, 'controller shutting down');
    await shutdownServer(this.server);
  }
}
