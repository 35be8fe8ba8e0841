// SPDX-License-Identifier: Apache-2.0
/**
 * The gRPC Enrollment server: TLS with the controller's server certificate
 * and no client certificate (a new agent has none). GetCa hands out the CA
 * certificate, which the agent checks against the hash in its bootstrap
 * token before trusting this listener; Enroll redeems one use of a bootstrap
 * token for a client certificate.
 */
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { ValidationError } from '@fleettrace/common';
import {
  EnrollmentService as EnrollmentServiceDefinition,
  type EnrollRequest,
  type EnrollResponse,
  type GetCaRequest,
  type GetCaResponse,
} from '@fleettrace/proto';
import {
  CONFIG,
  formatHostPort,
  LOGGER,
  type ResolvedConfig,
} from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { PkiService } from '../pki/pki.service.js';
import { verifyCsr } from '../pki/certificate-authority.js';
import { AuditService } from '../audit/audit.service.js';
import { BootstrapTokenError, TokensService } from '../auth/tokens.service.js';
import { AgentsService } from '../agents/agents.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { HOSTNAME, validateLabel } from '../jobs/host-targets.js';
import { toGrpcError } from '../grpc/grpc-errors.js';
import { shutdownServer } from '../grpc/shutdown-server.js';
import { ControlServerService } from '../control/control-server.service.js';

const MAX_LABELS = 64;

/** The id part of a bootstrap token, for the audit log (never its secret). */
function bootstrapTokenId(token: string): string | undefined {
  return /^(?:ftboot\.)?([0-9a-f]{12})\./.exec(token)?.[1];
}

@Injectable()
export class EnrollmentServerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private server?: Server;
  private readonly log: JsonLogger;
  /** the bound address (the port is known only after binding when 0 was asked) */
  address?: string;

  constructor(
    private readonly pki: PkiService,
    private readonly tokens: TokensService,
    private readonly agents: AgentsService,
    private readonly metrics: MetricsService,
    private readonly control: ControlServerService,
    private readonly audit: AuditService,
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'enrollment' });
  }

  async onApplicationBootstrap(): Promise<void> {
    const server = new Server({
      'grpc.max_receive_message_length': 64 * 1024,
      // Enrolling is two short unary calls: a connection with no call in flight for
      // 30 s is closed, and none is kept past 5 minutes (a call in flight then gets
      // 10 s more). A connection that never finishes TLS is closed by Node after 120 s.
      'grpc.max_connection_idle_ms': 30_000,
      'grpc.max_connection_age_ms': 5 * 60_000,
      'grpc.max_connection_age_grace_ms': 10_000,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
    server.addService(EnrollmentServiceDefinition, {
      getCa: (
        _call: ServerUnaryCall<GetCaRequest, GetCaResponse>,
        cb: sendUnaryData<GetCaResponse>,
      ) => cb(null, { caPem: this.pki.caPem }),
      enroll: (
        call: ServerUnaryCall<EnrollRequest, EnrollResponse>,
        cb: sendUnaryData<EnrollResponse>,
      ) => {
        this.enroll(call.request, call.getPeer()).then(
          (res) => cb(null, res),
          (err) => cb(toGrpcError(err)),
        );
      },
    });
    const { keyPem, certPem } = this.pki.serverKeyPair;
    const creds = ServerCredentials.createSsl(
      null,
      [{ private_key: Buffer.from(keyPem), cert_chain: Buffer.from(certPem) }],
      false,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(formatHostPort(this.config.enrollListen), creds, (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.server = server;
    this.address = formatHostPort({ host: this.config.enrollListen.host, port });
    this.log.info('enrollment listening', { address: this.address, tls: 'server only' });
  }

  private async enroll(req: EnrollRequest, peer: string): Promise<EnrollResponse> {
    try {
      if (!HOSTNAME.test(req.hostname))
        throw new ValidationError(
          'hostname',
          `must be a host name (letters, digits, . _ -), got ${JSON.stringify(req.hostname)}`,
        );
      const labels = req.labels ?? {};
      if (Object.keys(labels).length > MAX_LABELS)
        throw new ValidationError('labels', `at most ${MAX_LABELS}`);
      for (const [k, v] of Object.entries(labels)) validateLabel(k, v, `labels.${k}`);
      // Check the request before spending a use of the token on it.
      await verifyCsr(req.csrPem);
      const token = this.tokens.redeemBootstrapToken(req.token);
      const { agentId, cert } = await this.agents.enroll(
        { hostname: req.hostname, labels, csrPem: req.csrPem },
        `${token.name} (${token.id})`,
        peer,
      );
      this.metrics.enrollments.inc({ result: 'ok' });
      this.log.info('agent enrolled', {
        agent_id: agentId,
        hostname: req.hostname,
        peer,
        serial: cert.serial,
      });
      return {
        agentId,
        certificatePem: cert.pem,
        caPem: this.pki.caPem,
        notAfterUnixMs: cert.notAfterMs,
        controlAddress: this.config.controlAdvertise ?? this.control.address ?? '',
        ...(this.config.bus ? { bus: this.config.bus } : {}),
      };
    } catch (err) {
      this.metrics.enrollments.inc({ result: 'refused' });
      if (err instanceof BootstrapTokenError)
        this.audit.denied({
          reason: 'bad bootstrap token',
          source: peer,
          method: 'gRPC',
          path: 'Enroll',
          ...(bootstrapTokenId(req.token) ? { tokenId: bootstrapTokenId(req.token) } : {}),
        });
      this.log.warn('enrollment refused', {
        hostname: req.hostname,
        peer,
        reason: (err as Error).message,
      });
      throw err;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await shutdownServer(this.server);
  }
}
