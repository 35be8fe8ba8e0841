// SPDX-License-Identifier: Apache-2.0
/**
 * Bounds of the REST listener. Every local user of a shared host can open
 * connections to a loopback port: without these, connections that send
 * nothing, or a header a byte a minute, are kept for ever and each holds a
 * file descriptor and a parser.
 */
import { createServer } from 'node:http';
import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';

export interface HttpLimits {
  /** a request's headers must arrive within this (a connection that sends nothing is closed then) */
  headersTimeoutMs: number;
  /** the whole request (headers and body) must arrive within this */
  requestTimeoutMs: number;
  /** an idle keep-alive connection is closed after this */
  keepAliveTimeoutMs: number;
  /**
   * a socket with no traffic either way for this long is closed: longer than
   * the slowest answer (a query stops at 30 s in the store's profile)
   */
  idleTimeoutMs: number;
  /** connections open at once; more are refused at accept */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 90_000,
  maxConnections: 256,
};

/**
 * Node checks the header and request deadlines on a timer
 * (connectionsCheckingInterval, 30 s by default), so a silent connection
 * could live 40 s with a 10 s deadline. It can only be set when the server is
 * created, which Nest's Express adapter does: this adapter creates it.
 */
export class LimitedExpressAdapter extends ExpressAdapter {
  constructor(private readonly limits: HttpLimits) {
    super();
  }

  override initHttpServer(options: NestApplicationOptions): void {
    if (options.httpsOptions || options.forceCloseConnections || options.return503OnClosing)
      throw new Error('LimitedExpressAdapter: plain HTTP only, without Nest connection tracking');
    const l = this.limits;
    const server = createServer(
      {
        headersTimeout: l.headersTimeoutMs,
        requestTimeout: l.requestTimeoutMs,
        keepAliveTimeout: l.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
      },
      this.getInstance(),
    );
    server.timeout = l.idleTimeoutMs;
    server.maxConnections = l.maxConnections;
    this.setHttpServer(server);
  }
}
