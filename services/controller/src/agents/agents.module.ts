// SPDX-License-Identifier: Apache-2.0
import { Module } from '@nestjs/common';
import { AgentSessions } from './agent-sessions.js';
import { AgentsController } from './agents.controller.js';
import { AgentsService } from './agents.service.js';

@Module({
  providers: [AgentsService, AgentSessions],
  controllers: [AgentsController],
  exports: [AgentsService, AgentSessions],
})
export class AgentsModule {}
