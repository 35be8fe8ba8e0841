// SPDX-License-Identifier: Apache-2.0
import { Global, Module, type DynamicModule } from '@nestjs/common';
import { CONFIG, LOGGER, PUBLISHER, type ResolvedConfig } from './config/controller-config.js';
import type { ControlEventPublisher } from './events/control-event-publisher.js';
import type { JsonLogger } from '@fleettrace/common';
import { StoreModule } from './store/store.module.js';
import { PkiModule } from './pki/pki.module.js';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { AgentsModule } from './agents/agents.module.js';
import { JobsModule } from './jobs/jobs.module.js';
import { ControlModule } from './control/control.module.js';
import { EnrollmentModule } from './enrollment/enrollment.module.js';
import { SchedulesModule } from './schedules/schedules.module.js';
import { HealthModule } from './health/health.module.js';
import { OpenApiController } from './openapi/openapi.controller.js';
import { QueryModule } from './query/query.module.js';
import type { QueryOptions } from './query/query-backend.js';

/** The values every module may inject: configuration, logger, event publisher. */
@Global()
@Module({})
class ContextModule {
  static with(
    config: ResolvedConfig,
    logger: JsonLogger,
    publisher: ControlEventPublisher,
  ): DynamicModule {
    const providers = [
      { provide: CONFIG, useValue: config },
      { provide: LOGGER, useValue: logger },
      { provide: PUBLISHER, useValue: publisher },
    ];
    return { module: ContextModule, providers, exports: providers.map((p) => p.provide) };
  }
}

@Module({})
export class AppModule {
  static with(
    config: ResolvedConfig,
    logger: JsonLogger,
    publisher: ControlEventPublisher,
    query?: QueryOptions,
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ContextModule.with(config, logger, publisher),
        StoreModule,
        PkiModule,
        AuditModule,
        AuthModule,
        MetricsModule,
        AgentsModule,
        JobsModule,
        ControlModule,
        EnrollmentModule,
        SchedulesModule,
        HealthModule,
        QueryModule.with(query),
      ],
      controllers: [OpenApiController],
    };
  }
}
