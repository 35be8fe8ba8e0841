// SPDX-License-Identifier: Apache-2.0
/**
 * Every route needs a bearer API token unless marked @Public(): no or a bad
 * token is 401, a role below the route's @RequireRole (viewer by default) is 403.
 * The principal is attached to the request for services and the audit log.
 */
import {
  ForbiddenException,
  Injectable,
  UnauthorizedException,
  createParamDecorator,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PUBLIC_KEY, ROLE_KEY, roleAtLeast, type Principal, type Role } from './roles.js';
import { TokensService } from './tokens.service.js';
import { AuditService, type DeniedAttempt } from '../audit/audit.service.js';

export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
  ip?: string;
  method?: string;
  originalUrl?: string;
  url?: string;
  socket?: { remoteAddress?: string };
}

/** The client address of a request, for the audit log ('' when unknown). */
export function clientAddress(req: { ip?: string; socket?: { remoteAddress?: string } }): string {
  return req.ip ?? req.socket?.remoteAddress ?? '';
}

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokensService,
    private readonly audit: AuditService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const need = this.reflector.getAllAndOverride<Role>(ROLE_KEY, targets) ?? 'viewer';
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    // Every refusal is audited (aggregated per source and reason, see AuditService.denied).
    const deny = (attempt: Omit<DeniedAttempt, 'source' | 'method' | 'path'>): void =>
      this.audit.denied({
        ...attempt,
        source: clientAddress(req),
        method: req.method ?? '',
        // without the query string: it may carry what a caller would rather not have logged
        path: (req.originalUrl ?? req.url ?? '').split('?')[0] as string,
      });
    const header = req.headers.authorization;
    const value = Array.isArray(header) ? header[0] : header;
    if (!value) {
      deny({ reason: 'missing token' });
      throw new UnauthorizedException(
        'authorization: missing bearer token (Authorization: Bearer ftapi....)',
      );
    }
    const m = /^Bearer\s+(\S+)$/i.exec(value);
    if (!m) {
      deny({ reason: 'malformed authorization' });
      throw new UnauthorizedException('authorization: must be "Bearer <token>"');
    }
    const who = this.tokens.identify(m[1] as string);
    if (!('principal' in who)) {
      deny(who);
      throw new UnauthorizedException('authorization: unknown, revoked or expired token');
    }
    const principal = who.principal;
    if (!roleAtLeast(principal.role, need)) {
      deny({
        reason: 'role too low',
        tokenId: principal.tokenId,
        tokenName: principal.name,
        role: principal.role,
        need,
      });
      throw new ForbiddenException(
        `this needs the ${need} role; token ${principal.name} has ${principal.role}`,
      );
    }
    req.principal = principal;
    return true;
  }
}

/** The authenticated caller of a guarded route. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal => {
    const principal = ctx.switchToHttp().getRequest<AuthenticatedRequest>().principal;
    if (!principal) throw new UnauthorizedException('authorization: missing bearer token');
    return principal;
  },
);
