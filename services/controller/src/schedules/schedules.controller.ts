// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { RequireRole, type Principal } from '../auth/roles.js';
import { SchedulesService } from './schedules.service.js';
import type { ScheduleListResponse, ScheduleResponse } from './schedules.schemas.js';

@Controller('api/v1/schedules')
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  @Post()
  @RequireRole('operator')
  create(
    @Body() body: unknown,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): ScheduleResponse {
    return this.schedules.create(body, p, clientAddress(req));
  }

  @Get()
  list(): ScheduleListResponse {
    return { schedules: this.schedules.list() };
  }

  @Get(':id')
  get(@Param('id') id: string): ScheduleResponse {
    return this.schedules.get(id);
  }

  @Delete(':id')
  @RequireRole('operator')
  @HttpCode(200)
  delete(
    @Param('id') id: string,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): ScheduleResponse {
    return this.schedules.delete(id, p, clientAddress(req));
  }
}
