// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { JobsController } from './jobs.controller.js';
import { JobsService } from './jobs.service.js';

@Module({
  imports: [AgentsModule],
  providers: [JobsService],
  controllers: [JobsController],
  exports: [JobsService],
})
export class JobsModule {}
