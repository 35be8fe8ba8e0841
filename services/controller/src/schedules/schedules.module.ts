// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module.js';
import { SchedulesController } from './schedules.controller.js';
import { SchedulesService } from './schedules.service.js';

@Module({
  imports: [JobsModule],
  providers: [SchedulesService],
  controllers: [SchedulesController],
})
export class SchedulesModule {}
