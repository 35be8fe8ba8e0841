// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { objectWith, oneOf, optionalString } from '../http/request-fields.js';
import { AgentsService, type AgentInfo } from './agents.service.js';

const STATES = ['enrolled', 'connected', 'disconnected', 'lost', 'revoked'] as const;

@Controller('api/v1/agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  list(@Query('state') state?: string): { agents: AgentInfo[] } {
    return {
      agents: this.agents.list(state === undefined ? {} : { state: oneOf(state, 'state', STATES) }),
    };
  }

  @Get(':id')
  get(@Param('id') id: string): AgentInfo {
    return this.agents.get(id);
  }

  /** Refuses the agent's certificates from now on and closes its stream; its runs end. */
  @Post(':id/revoke')
  @RequireRole('admin')
  @HttpCode(200)
  revoke(
    @Param('id') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): AgentInfo {
    const b = objectWith(body ?? {}, '', ['reason']);
    return this.agents.revoke(
      id,
      p,
      optionalString(b.reason, 'reason', { max: 500 }) ?? 'revoked by an admin',
      clientAddress(req),
    );
  }
}
