// SPDX-License-Identifier: Apache-2.0
/**
 * Starts a controller: the NestJS application (REST API, metrics, health)
 * and its two gRPC listeners, all on one data directory. Returns where it
 * listens and a `close` that stops listeners, closes agent streams and
 * flushes SQLite. Several controllers may run in one process (tests).
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import {
  formatHostPort,
  resolveConfig,
  type ControllerOptions,
} from './config/controller-config.js';
import { InMemoryControlEventPublisher } from './events/control-event-publisher.js';
import { ApiExceptionFilter } from './http/api-exception.filter.js';
import {
  describeSecuredDataDir,
  JsonLogger,
  parseLogLevel,
  secureDataDir,
} from '@fleettrace/common';
import { DEFAULT_HTTP_LIMITS, LimitedExpressAdapter } from './http/http-limits.js';
import { NestLogger } from './logging/nest-logger.js';
import { loadStaticUi, staticUiMiddleware } from './http/static-ui.js';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware.js';
import { MetricsService } from './metrics/metrics.service.js';
import { PkiService } from './pki/pki.service.js';
import { TokensService, FIRST_ADMIN_TOKEN_FILE } from './auth/tokens.service.js';
import { ControlServerService } from './control/control-server.service.js';
import { EnrollmentServerService } from './enrollment/enrollment-server.service.js';
import { join } from 'node:path';

export interface RunningController {
  /** http://host:port of the REST API */
  url: string;
  /** host:port of the Enrollment listener */
  enrollAddress: string;
  /** host:port of the AgentControl listener */
  controlAddress: string;
  caPem: string;
  /** sha256-<hex> of the CA certificate, as bootstrap tokens carry it */
  caHash: string;
  /** set on the first start only: the admin API token (also in adminTokenFile) */
  firstAdminToken?: string;
  adminTokenFile: string;
  /** http://host:port/ of the web UI, when uiDir was given */
  uiUrl?: string;
  /** the NestJS application (tests list its routes) */
  nest: INestApplication;
  close(): Promise<void>;
}

export async function startController(options: ControllerOptions): Promise<RunningController> {
  const config = resolveConfig(options);
  const logger =
    options.logger ??
    new JsonLogger(parseLogLevel(process.env.FLEETTRACE_LOG_LEVEL, 'FLEETTRACE_LOG_LEVEL'), {
      service: 'controller',
    });
  // SQLite, the CA key, the admin token: owner-only, whatever an older start left.
  // This sets the process umask to 0077 (files SQLite makes later are owner-only too).
  const secured = secureDataDir(config.dataDir);
  (secured.failed.length ? logger.warn : logger.info).call(
    logger,
    describeSecuredDataDir(secured),
    { fixed: secured.fixed, checked: secured.checked },
  );
  const publisher = options.publisher ?? new InMemoryControlEventPublisher();
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.with(config, logger, publisher, options.query),
    new LimitedExpressAdapter({ ...DEFAULT_HTTP_LIMITS, ...options.httpLimits }),
    {
      logger: new NestLogger(logger.child({ component: 'nest' })),
      abortOnError: false,
      bodyParser: false,
    },
  );
  app.use(httpMetricsMiddleware(app.get(MetricsService)));
  // Before the API's routes: a UI file is answered here, everything else goes on to them.
  if (config.uiDir) app.use(staticUiMiddleware(loadStaticUi('uiDir', config.uiDir)));
  // Job specs are small; a megabyte is generous and bounds what one request can make us parse.
  app.useBodyParser('json', { limit: '1mb' });
  app.useGlobalFilters(new ApiExceptionFilter(logger.child({ component: 'http' })));
  try {
    await app.listen(config.listen.port, config.listen.host);
  } catch (err) {
    // A listener that cannot bind (a port in use): stop what already started
    // (the other gRPC listener, timers), or the process would live on half up.
    await app.close().catch(() => undefined);
    await publisher.close().catch(() => undefined);
    throw err;
  }
  const server = app.getHttpServer();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.listen.port;
  const url = `http://${formatHostPort({ host: config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host, port })}`;
  const pki = app.get(PkiService);
  const tokens = app.get(TokensService);
  const control = app.get(ControlServerService);
  const enrollment = app.get(EnrollmentServerService);
  logger.info('controller ready', {
    api: url,
    enroll: enrollment.address,
    control: control.address,
    data: config.dataDir,
    ca_hash: pki.caHash,
    ...(config.uiDir ? { ui: `${url}/`, ui_dir: config.uiDir } : {}),
  });
  if (!['127.0.0.1', '::1', 'localhost'].includes(config.listen.host))
    logger.warn(
      'the REST API listens beyond loopback over plain HTTP: API tokens cross the network in clear; put a TLS-terminating proxy in front',
      { api: url },
    );
  let closed = false;
  return {
    url,
    enrollAddress: enrollment.address as string,
    controlAddress: control.address as string,
    caPem: pki.caPem,
    caHash: pki.caHash,
    ...(tokens.firstAdminToken ? { firstAdminToken: tokens.firstAdminToken } : {}),
    adminTokenFile: join(config.dataDir, FIRST_ADMIN_TOKEN_FILE),
    ...(config.uiDir ? { uiUrl: `${url}/` } : {}),
    nest: app,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await publisher.close();
      logger.info('controller stopped');
    },
  };
}
