// SPDX-License-Identifier: Apache-2.0
/**
 * Audits the 403s that services raise after the guard let a request through
 * (an operator asking for a collector that needs the admin role, deleting an
 * admin's schedule, ...). The guard audits its own refusals; guards run
 * before interceptors, so nothing is counted twice.
 */
import {
  ForbiddenException,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { catchError, type Observable } from 'rxjs';
import { clientAddress, type AuthenticatedRequest } from '../auth/auth.guard.js';
import { AuditService } from './audit.service.js';

@Injectable()
export class DeniedAuditInterceptor implements NestInterceptor {
  constructor(private readonly audit: AuditService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((err: unknown) => {
        if (err instanceof ForbiddenException && context.getType() === 'http') {
          const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
          this.audit.denied({
            reason: 'role too low',
            source: clientAddress(req),
            method: req.method ?? '',
            path: (req.originalUrl ?? req.url ?? '').split('?')[0] as string,
            ...(req.principal
              ? {
                  tokenId: req.principal.tokenId,
                  tokenName: req.principal.name,
                  role: req.principal.role,
                }
              : {}),
          });
        }
        throw err;
      }),
    );
  }
}
