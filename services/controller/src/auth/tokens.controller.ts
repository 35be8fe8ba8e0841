// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { parseDuration } from '@fleettrace/common';
import { parseRequest } from '../http/request-fields.js';
import { clientAddress, CurrentPrincipal, type AuthenticatedRequest } from './auth.guard.js';
import { manifests } from '@fleettrace/collectors/manifests';
import { adminOnlyCollectors, RequireRole, roleAtLeast, type Principal } from './roles.js';
import { ApiTokenRequest, BootstrapTokenRequest, TokenKindRequest } from './tokens.schemas.js';
import { TokensService } from './tokens.service.js';
import type {
  CreatedTokenResponse,
  TokenListResponse,
  TokenResponse,
  WhoamiResponse,
} from './tokens.schemas.js';

@Controller('api/v1')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  /** The caller's own token: name and role, and what it may run (a client offers no more). */
  @Get('whoami')
  whoami(@CurrentPrincipal() p: Principal): WhoamiResponse {
    const sensitive = adminOnlyCollectors();
    const collectors = roleAtLeast(p.role, 'operator')
      ? [...manifests().keys()].filter((name) => p.role === 'admin' || !(name in sensitive))
      : [];
    return { id: p.tokenId, name: p.name, role: p.role, collectors };
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
  ): CreatedTokenResponse {
    const { kind } = parseRequest(TokenKindRequest, body);
    if (kind !== 'bootstrap') {
      const b = parseRequest(ApiTokenRequest, body);
      const ttlMs = b.ttl === undefined ? undefined : parseDuration('ttl', b.ttl);
      return this.tokens.createApiToken(
        { name: b.name ?? 'unnamed', role: b.role, ...(ttlMs ? { ttlMs } : {}) },
        p,
        clientAddress(req),
      );
    }
    const b = parseRequest(BootstrapTokenRequest, body);
    return this.tokens.createBootstrapToken(
      {
        name: b.name ?? 'bootstrap',
        maxUses: b.max_uses ?? 1,
        ttlMs: b.ttl === undefined ? 86_400_000 : parseDuration('ttl', b.ttl),
      },
      p,
      clientAddress(req),
    );
  }

  @Get('tokens')
  @RequireRole('admin')
  list(): TokenListResponse {
    return { tokens: this.tokens.list() };
  }

  @Delete('tokens/:id')
  @RequireRole('admin')
  @HttpCode(200)
  revoke(
    @Param('id') id: string,
    @CurrentPrincipal() p: Principal,
    @Req() req: AuthenticatedRequest,
  ): TokenResponse {
    return this.tokens.revoke(id, p, clientAddress(req));
  }
}
