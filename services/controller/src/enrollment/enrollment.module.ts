// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { ControlModule } from '../control/control.module.js';
import { EnrollmentServerService } from './enrollment-server.service.js';

@Module({
  imports: [AgentsModule, ControlModule],
  providers: [EnrollmentServerService],
  exports: [EnrollmentServerService],
})
export class EnrollmentModule {}
