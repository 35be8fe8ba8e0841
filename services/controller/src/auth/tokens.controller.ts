// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { parseDuration, parseInteger } from '@fleettrace/common';
import { objectWith, oneOf, optionalString } from '../http/request-fields.js';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from './auth.guard.js';
import { RequireRole, ROLES, type Principal, type Role } from './roles.js';
import { TokensService } from './tokens.service.js';

const NAME = {
  max: 100,
  pattern: /^[\w .@:-]+$/,
  hint: 'may contain letters, digits, space and _ . @ : -',
};

@Controller('api/v1')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  /** The caller's own token: name and role. */
  @Get('whoami')
  whoami(@CurrentPrincipal() p: Principal): { id: string; name: string; role: Role } {
    return { id: p.tokenId, name: p.name, role: p.role };
  }

  /**
   * Creates an API token ({kind: "api", name, role, ttl?}) or a bootstrap token
   * for agents ({kind: "bootstrap", name?, max_uses? (1), ttl? (24h)}). The
   * secret is in the response only.
   */
  @Post('tokens')
  @RequireRole('admin')
  create(
    @Body() body: unknown,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): { token: string; info: unknown } {
    const kind = oneOf(
      objectWith(body, '', ['kind', 'name', 'role', 'ttl', 'max_uses']).kind ?? 'api',
      'kind',
      ['api', 'bootstrap'] as const,
    );
    if (kind === 'api') {
      const b = objectWith(body, '', ['kind', 'name', 'role', 'ttl']);
      const name = optionalString(b.name, 'name', NAME) ?? 'unnamed';
      const role = oneOf(b.role, 'role', ROLES);
      const ttlMs =
        b.ttl === undefined
          ? undefined
          : parseDuration('ttl', b.ttl, { minMs: 60_000, maxMs: 5 * 365 * 86_400_000 });
      return this.tokens.createApiToken(
        { name, role, ...(ttlMs ? { ttlMs } : {}) },
        p,
        clientAddress(req),
      );
    }
    const b = objectWith(body, '', ['kind', 'name', 'ttl', 'max_uses']);
    const name = optionalString(b.name, 'name', NAME) ?? 'bootstrap';
    const maxUses =
      b.max_uses === undefined ? 1 : parseInteger('max_uses', b.max_uses, 1, 1_000_000);
    const ttlMs =
      b.ttl === undefined
        ? 86_400_000
        : parseDuration('ttl', b.ttl, { minMs: 1_000, maxMs: 30 * 86_400_000 });
    return this.tokens.createBootstrapToken({ name, maxUses, ttlMs }, p, clientAddress(req));
  }

  @Get('tokens')
  @RequireRole('admin')
  list(): { tokens: unknown[] } {
    return { tokens: this.tokens.list() };
  }

  @Delete('tokens/:id')
  @RequireRole('admin')
  @HttpCode(200)
  revoke(
    @Param('id') id: string,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): unknown {
    return this.tokens.revoke(id, p, clientAddress(req));
  }
}
