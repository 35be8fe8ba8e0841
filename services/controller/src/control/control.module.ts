// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { JobsModule } from '../jobs/jobs.module.js';
import { ControlServerService } from './control-server.service.js';
import { SweeperService } from './sweeper.service.js';

@Module({
  imports: [AgentsModule, JobsModule],
  providers: [ControlServerService, SweeperService],
  exports: [ControlServerService],
})
export class ControlModule {}
