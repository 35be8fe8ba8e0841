// SPDX-License-Identifier: Apache-2.0
/**
 * Everything the controller can be told at start. Timings are options so tests
 * can run in seconds; the defaults are the production ones.
 */
import { ValidationError } from '@fleettrace/common';
import type { JsonLogger } from '@fleettrace/common';
import type { ControlEventPublisher } from '../events/control-event-publisher.js';

import type { HttpLimits } from '../http/http-limits.js';
import type { QueryOptions } from '../query/query-backend.js';
import type { BusSettings } from '@fleettrace/proto';
import { checkUiDir } from '../http/static-ui.js';

export interface ControllerOptions {
  /** directory for controller.db, the CA, the server certificate and the first admin token */
  dataDir: string;
  /** REST API, metrics and health: "host:port" (port 0 picks a free one) */
  listen?: string;
  /** gRPC Enrollment (TLS, no client certificate) */
  enrollListen?: string;
  /** gRPC AgentControl (mutual TLS) */
  controlListen?: string;
  /**
   * host:port agents are told to reach AgentControl at (EnrollResponse.control_address);
   * defaults to the control listener's address (an unspecified host is left for the
   * agent to replace with the host it enrolled through).
   */
  controlAdvertise?: string;
  /** extra DNS names or IP addresses for the listeners' server certificate */
  serverNames?: string[];
  /** an operator's CA instead of the generated one: PEM certificate and PKCS#8 key */
  caCertFile?: string;
  caKeyFile?: string;
  /** lifetime of agent client certificates */
  clientCertLifetimeMs?: number;
  /** how often agents send heartbeats (told to them in Welcome) */
  heartbeatIntervalMs?: number;
  /** an agent silent for this long is marked lost */
  lostAfterMs?: number;
  /** how often the sweeper checks heartbeats, job windows and schedules */
  sweepIntervalMs?: number;
  /** after a job's end, how long to wait for final statuses before marking runs lost */
  finalStatusGraceMs?: number;
  logger?: JsonLogger;
  publisher?: ControlEventPublisher;
  /** the event store for POST /api/v1/query, /top and /crashes; without it they answer 503 */
  query?: QueryOptions;
  /** where agents publish events (EnrollResponse.bus); empty: agents are not told */
  bus?: BusSettings;
  /** the REST listener's timeouts and connection cap (default DEFAULT_HTTP_LIMITS) */
  httpLimits?: Partial<HttpLimits>;
  /** a built web UI (a directory holding index.html) to serve at /; none: / is a 404 */
  uiDir?: string;
}

export interface ResolvedConfig {
  dataDir: string;
  listen: HostPort;
  enrollListen: HostPort;
  controlListen: HostPort;
  controlAdvertise?: string;
  serverNames: string[];
  caCertFile?: string;
  caKeyFile?: string;
  clientCertLifetimeMs: number;
  heartbeatIntervalMs: number;
  lostAfterMs: number;
  sweepIntervalMs: number;
  finalStatusGraceMs: number;
  bus?: BusSettings;
  /** absolute, checked to hold index.html */
  uiDir?: string;
}

export interface HostPort {
  host: string;
  port: number;
}

export const DEFAULTS = {
  listen: '127.0.0.1:7780',
  enrollListen: '127.0.0.1:7781',
  controlListen: '127.0.0.1:7782',
  clientCertLifetimeMs: 7 * 24 * 3_600_000,
  heartbeatIntervalMs: 5_000,
  sweepIntervalMs: 1_000,
  finalStatusGraceMs: 15_000,
};

/** "host:port", "[::1]:port" or ":port" (all interfaces). */
export function parseHostPort(field: string, raw: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m) throw new ValidationError(field, `must be host:port, got ${JSON.stringify(raw)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new ValidationError(field, `port must be at most 65535, got ${port}`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

function positive(field: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isFinite(n) || n <= 0) throw new ValidationError(field, 'must be a positive number');
  return n;
}

export function resolveConfig(o: ControllerOptions): ResolvedConfig {
  if (!o.dataDir) throw new ValidationError('dataDir', 'is required');
  if ((o.caCertFile === undefined) !== (o.caKeyFile === undefined))
    throw new ValidationError('caKeyFile', 'an operator CA needs both the certificate and the key');
  const heartbeatIntervalMs = positive(
    'heartbeatIntervalMs',
    o.heartbeatIntervalMs,
    DEFAULTS.heartbeatIntervalMs,
  );
  const lostAfterMs = positive('lostAfterMs', o.lostAfterMs, heartbeatIntervalMs * 3);
  if (lostAfterMs <= heartbeatIntervalMs)
    throw new ValidationError('lostAfterMs', 'must be longer than the heartbeat interval');
  return {
    dataDir: o.dataDir,
    listen: parseHostPort('listen', o.listen ?? DEFAULTS.listen),
    enrollListen: parseHostPort('enrollListen', o.enrollListen ?? DEFAULTS.enrollListen),
    controlListen: parseHostPort('controlListen', o.controlListen ?? DEFAULTS.controlListen),
    ...(o.controlAdvertise !== undefined ? { controlAdvertise: o.controlAdvertise } : {}),
    serverNames: o.serverNames ?? [],
    ...(o.caCertFile !== undefined ? { caCertFile: o.caCertFile, caKeyFile: o.caKeyFile } : {}),
    clientCertLifetimeMs: positive(
      'clientCertLifetimeMs',
      o.clientCertLifetimeMs,
      DEFAULTS.clientCertLifetimeMs,
    ),
    heartbeatIntervalMs,
    lostAfterMs,
    sweepIntervalMs: positive('sweepIntervalMs', o.sweepIntervalMs, DEFAULTS.sweepIntervalMs),
    finalStatusGraceMs: positive(
      'finalStatusGraceMs',
      o.finalStatusGraceMs,
      DEFAULTS.finalStatusGraceMs,
    ),
    ...(o.bus ? { bus: o.bus } : {}),
    ...(o.uiDir !== undefined ? { uiDir: checkUiDir('uiDir', o.uiDir) } : {}),
  };
}

/** Injection tokens for values that are not classes. */
export const CONFIG = Symbol('fleettrace.config');
export const LOGGER = Symbol('fleettrace.logger');
export const PUBLISHER = Symbol('fleettrace.publisher');
