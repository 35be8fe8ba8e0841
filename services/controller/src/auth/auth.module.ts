// SPDX-License-Identifier: Apache-2.0
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { TokensController } from './tokens.controller.js';
import { TokensService } from './tokens.service.js';

@Global()
@Module({
  providers: [TokensService, { provide: APP_GUARD, useClass: AuthGuard }],
  controllers: [TokensController],
  exports: [TokensService],
})
export class AuthModule {}
