// SPDX-License-Identifier: Apache-2.0
import { Module, type DynamicModule } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { JobsModule } from '../jobs/jobs.module.js';
import { QUERY_OPTIONS, type QueryOptions } from './query-backend.js';
import { ProfilesController } from '../profiles/profiles.controller.js';
import { QueryController } from './query.controller.js';
import { QueryRunner } from './query-runner.service.js';

@Module({})
export class QueryModule {
  static with(options: QueryOptions | undefined): DynamicModule {
    return {
      module: QueryModule,
      imports: [AuditModule, JobsModule],
      // Profiles are queries of the store too: the same runner, limits and audit.
      controllers: [QueryController, ProfilesController],
      providers: [QueryRunner, ...(options ? [{ provide: QUERY_OPTIONS, useValue: options }] : [])],
    };
  }
}
