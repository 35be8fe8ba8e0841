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

export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
  ip?: string;
}

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokensService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const need = this.reflector.getAllAndOverride<Role>(ROLE_KEY, targets) ?? 'viewer';
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = req.headers.authorization;
    const value = Array.isArray(header) ? header[0] : header;
    if (!value)
      throw new UnauthorizedException(
        'authorization: missing bearer token (Authorization: Bearer ftapi....)',
      );
    const m = /^Bearer\s+(\S+)$/i.exec(value);
    if (!m) throw new UnauthorizedException('authorization: must be "Bearer <token>"');
    const principal = this.tokens.authenticate(m[1] as string);
    if (!principal)
      throw new UnauthorizedException('authorization: unknown, revoked or expired token');
    if (!roleAtLeast(principal.role, need))
      throw new ForbiddenException(
        `this needs the ${need} role; token ${principal.name} has ${principal.role}`,
      );
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
