// SPDX-License-Identifier: Apache-2.0
import { Module, type DynamicModule } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { JobsModule } from '../jobs/jobs.module.js';
import { QUERY_OPTIONS, type QueryOptions } from './query-backend.js';
import { QueryController } from './query.controller.js';

@Module({})
export class QueryModule {
  static with(options: QueryOptions | undefined): DynamicModule {
    return {
      module: QueryModule,
      imports: [AuditModule, JobsModule],
      controllers: [QueryController],
      providers: options ? [{ provide: QUERY_OPTIONS, useValue: options }] : [],
    };
  }
}
