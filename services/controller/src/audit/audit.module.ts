// SPDX-License-Identifier: Apache-2.0
import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AuditController } from './audit.controller.js';
import { AuditService } from './audit.service.js';
import { DeniedAuditInterceptor } from './denied-audit.interceptor.js';

@Global()
@Module({
  providers: [AuditService, { provide: APP_INTERCEPTOR, useClass: DeniedAuditInterceptor }],
  controllers: [AuditController],
  exports: [AuditService],
})
export class AuditModule {}
