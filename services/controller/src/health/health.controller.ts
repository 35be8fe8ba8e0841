// SPDX-License-Identifier: Apache-2.0
/**
 * /healthz: the process serves requests (liveness). /readyz: the database
 * answers and both gRPC listeners are bound (readiness); 503 with the reason otherwise.
 */
import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import type { HealthResponse, ReadyResponse } from './health.schemas.js';
import { Public } from '../auth/roles.js';
import { StoreService } from '../store/store.service.js';
import { ControlServerService } from '../control/control-server.service.js';
import { EnrollmentServerService } from '../enrollment/enrollment-server.service.js';
import { AgentSessions } from '../agents/agent-sessions.js';

@Controller()
export class HealthController {
  constructor(
    private readonly store: StoreService,
    private readonly control: ControlServerService,
    private readonly enrollment: EnrollmentServerService,
    private readonly sessions: AgentSessions,
  ) {}

  @Get('healthz')
  @Public()
  health(): HealthResponse {
    return { status: 'ok' };
  }

  @Get('readyz')
  @Public()
  ready(): ReadyResponse {
    try {
      this.store.stmt('SELECT 1').get();
    } catch (err) {
      throw new ServiceUnavailableException(`database: ${(err as Error).message}`);
    }
    if (!this.control.address)
      throw new ServiceUnavailableException('control listener: not bound yet');
    if (!this.enrollment.address)
      throw new ServiceUnavailableException('enrollment listener: not bound yet');
    return {
      status: 'ready',
      enroll: this.enrollment.address,
      control: this.control.address,
      connected_agents: this.sessions.size,
    };
  }
}
