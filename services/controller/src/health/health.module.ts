// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { ControlModule } from '../control/control.module.js';
import { EnrollmentModule } from '../enrollment/enrollment.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [AgentsModule, ControlModule, EnrollmentModule],
  controllers: [HealthController],
})
export class HealthModule {}
