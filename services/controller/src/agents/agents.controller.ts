// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { parseRequest } from '../http/request-fields.js';
import { ReasonRequest } from '../jobs/jobs.schemas.js';
import { AgentsListQuery } from './agents.schemas.js';
import { AgentsService } from './agents.service.js';
import type { AgentListResponse, AgentResponse } from './agents.schemas.js';

@Controller('api/v1/agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  list(@Query() query: unknown): AgentListResponse {
    const { state } = parseRequest(AgentsListQuery, query, 'query');
    return { agents: this.agents.list(state === undefined ? {} : { state }) };
  }

  @Get(':id')
  get(@Param('id') id: string): AgentResponse {
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
  ): AgentResponse {
    const b = parseRequest(ReasonRequest, body ?? {});
    return this.agents.revoke(id, p, b.reason ?? 'revoked by an admin', clientAddress(req));
  }
}
