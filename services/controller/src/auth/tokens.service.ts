// SPDX-License-Identifier: Apache-2.0
/**
 * API tokens (`ftapi.<id>.<secret>`, with a role) and bootstrap tokens for
 * agents (`ftboot.<id>.<secret>.sha256-<ca hash>`, one-time unless created
 * with a use count, always expiring). Only a SHA-256 of each secret is
 * stored: secrets are 32 random bytes, so a slow hash would add nothing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
  type OnModuleInit,
} from '@nestjs/common';
import { ValidationError } from '@fleettrace/common';
import { CONFIG, LOGGER, type ResolvedConfig } from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { PkiService } from '../pki/pki.service.js';
import { StoreService } from '../store/store.service.js';
import { AuditService, type DeniedReason } from '../audit/audit.service.js';
import { ROLES, type Principal, type Role } from './roles.js';

export interface ApiTokenInfo {
  id: string;
  kind: 'api';
  name: string;
  role: Role;
  created: string;
  created_by: string;
  expires: string | null;
  revoked: string | null;
  last_used: string | null;
}

export interface BootstrapTokenInfo {
  id: string;
  kind: 'bootstrap';
  name: string;
  max_uses: number;
  uses: number;
  created: string;
  created_by: string;
  expires: string;
  revoked: string | null;
}

interface ApiTokenRow {
  id: string;
  name: string;
  role: Role;
  secret_hash: string;
  created_ms: number;
  created_by: string;
  expires_ms: number | null;
  revoked_ms: number | null;
  last_used_ms: number | null;
}

interface BootstrapRow {
  id: string;
  name: string;
  secret_hash: string;
  max_uses: number;
  uses: number;
  created_ms: number;
  created_by: string;
  expires_ms: number;
  revoked_ms: number | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

const newId = (): string => randomBytes(6).toString('hex');
const newSecret = (): string => randomBytes(32).toString('base64url');

/** Why a bootstrap token was refused; the enrollment service maps it to a gRPC status. */
export class BootstrapTokenError extends Error {
  override name = 'BootstrapTokenError';
}

export const FIRST_ADMIN_TOKEN_FILE = 'admin-token';

@Injectable()
export class TokensService implements OnModuleInit {
  private readonly log: JsonLogger;
  /** the admin token created on this start, when the store had none */
  firstAdminToken?: string;

  constructor(
    private readonly store: StoreService,
    private readonly pki: PkiService,
    private readonly audit: AuditService,
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'tokens' });
  }

  /** On the first start (no API token at all) creates an admin token and writes it 0600 to <data>/admin-token. */
  onModuleInit(): void {
    const { n } = this.store.stmt('SELECT COUNT(*) AS n FROM api_tokens').get() as { n: number };
    if (n > 0) return;
    const created = this.createApiToken(
      { name: 'first admin', role: 'admin' },
      { name: 'controller', role: 'admin' },
      'controller:first-start',
    );
    const file = join(this.config.dataDir, FIRST_ADMIN_TOKEN_FILE);
    writeFileSync(file, created.token + '\n', { mode: 0o600 });
    this.firstAdminToken = created.token;
    this.log.info('created the first admin API token', { id: created.info.id, file });
  }

  createApiToken(
    req: { name: string; role: Role; ttlMs?: number },
    by: Principal | { name: string; role: string },
    source: string,
  ): { token: string; info: ApiTokenInfo } {
    if (!ROLES.includes(req.role))
      throw new ValidationError('role', `must be one of ${ROLES.join(', ')}`);
    const id = newId();
    const secret = newSecret();
    const now = Date.now();
    const createdBy = 'tokenId' in by ? `${by.name} (${by.tokenId})` : by.name;
    this.store
      .stmt(
        'INSERT INTO api_tokens (id, name, role, secret_hash, created_ms, created_by, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        id,
        req.name,
        req.role,
        hashSecret(secret),
        now,
        createdBy,
        req.ttlMs ? now + req.ttlMs : null,
      );
    this.audit.record(
      by,
      'token.create',
      { id, kind: 'api' },
      { name: req.name, role: req.role },
      { source },
    );
    return { token: `ftapi.${id}.${secret}`, info: this.apiInfo(this.apiRow(id) as ApiTokenRow) };
  }

  createBootstrapToken(
    req: { name: string; maxUses: number; ttlMs: number },
    by: Principal,
    source: string,
  ): { token: string; info: BootstrapTokenInfo } {
    const id = newId();
    const secret = newSecret();
    const now = Date.now();
    this.store
      .stmt(
        'INSERT INTO bootstrap_tokens (id, name, secret_hash, max_uses, created_ms, created_by, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        id,
        req.name,
        hashSecret(secret),
        req.maxUses,
        now,
        `${by.name} (${by.tokenId})`,
        now + req.ttlMs,
      );
    this.audit.record(
      by,
      'token.create',
      { id, kind: 'bootstrap' },
      { name: req.name, max_uses: req.maxUses },
      { source },
    );
    return {
      token: `ftboot.${id}.${secret}.${this.pki.caHash}`,
      info: this.bootstrapInfo(
        this.store.stmt('SELECT * FROM bootstrap_tokens WHERE id = ?').get(id) as BootstrapRow,
      ),
    };
  }

  /** The principal of a bearer token, or undefined for an unknown, revoked or expired one. */
  authenticate(bearer: string): Principal | undefined {
    const r = this.identify(bearer);
    return 'principal' in r ? r.principal : undefined;
  }

  /**
   * The principal of a bearer token, or why it was refused with what is
   * known of the token (its id, and name and role when it exists) for the
   * audit log. The secret is never part of the answer.
   */
  identify(
    bearer: string,
  ):
    | { principal: Principal }
    | { reason: DeniedReason; tokenId?: string; tokenName?: string; role?: Role } {
    const m = /^ftapi\.([0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})$/.exec(bearer);
    if (!m) {
      const id = /^ftapi\.([0-9a-f]{12})\./.exec(bearer)?.[1];
      return { reason: 'unknown token', ...(id ? { tokenId: id } : {}) };
    }
    const tokenId = m[1] as string;
    const row = this.apiRow(tokenId);
    if (!row) return { reason: 'unknown token', tokenId };
    const known = { tokenId, tokenName: row.name, role: row.role };
    if (!sameHash(row.secret_hash, hashSecret(m[2] as string)))
      return { reason: 'wrong secret', ...known };
    const now = Date.now();
    if (row.revoked_ms !== null) return { reason: 'revoked token', ...known };
    if (row.expires_ms !== null && row.expires_ms <= now)
      return { reason: 'expired token', ...known };
    // Recording every use would turn each read into a write; a minute's precision is enough.
    if (row.last_used_ms === null || now - row.last_used_ms > 60_000)
      this.store.stmt('UPDATE api_tokens SET last_used_ms = ? WHERE id = ?').run(now, row.id);
    return { principal: { tokenId: row.id, name: row.name, role: row.role } };
  }

  /**
   * Whether an API token may still act: it exists, is neither revoked nor
   * expired. Its current role when it may, else why not (schedules check
   * their creator's token every period with it).
   */
  standing(tokenId: string): { role: Role } | { reason: string } {
    const row = this.apiRow(tokenId);
    if (!row) return { reason: `token ${tokenId} no longer exists` };
    if (row.revoked_ms !== null)
      return { reason: `token ${row.name} (${tokenId}) was revoked at ${iso(row.revoked_ms)}` };
    if (row.expires_ms !== null && row.expires_ms <= Date.now())
      return { reason: `token ${row.name} (${tokenId}) expired at ${iso(row.expires_ms)}` };
    return { role: row.role };
  }

  /**
   * Redeems one use of a bootstrap token ("<id>.<secret>", the CA hash already
   * stripped by the agent). Atomic: two agents racing for the last use cannot both win.
   */
  redeemBootstrapToken(token: string): { id: string; name: string } {
    const m =
      /^(?:ftboot\.)?([0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})(?:\.sha256-[0-9a-f]{64})?$/.exec(
        token,
      );
    if (!m) throw new BootstrapTokenError('malformed bootstrap token');
    const row = this.store.stmt('SELECT * FROM bootstrap_tokens WHERE id = ?').get(m[1]) as
      | BootstrapRow
      | undefined;
    if (!row || !sameHash(row.secret_hash, hashSecret(m[2] as string)))
      throw new BootstrapTokenError('unknown bootstrap token');
    if (row.revoked_ms !== null) throw new BootstrapTokenError('bootstrap token was revoked');
    const now = Date.now();
    if (row.expires_ms <= now)
      throw new BootstrapTokenError(`bootstrap token expired at ${iso(row.expires_ms)}`);
    const changed = this.store
      .stmt(
        'UPDATE bootstrap_tokens SET uses = uses + 1 WHERE id = ? AND uses < max_uses AND revoked_ms IS NULL',
      )
      .run(row.id).changes;
    if (changed === 0)
      throw new BootstrapTokenError(
        row.max_uses === 1
          ? 'bootstrap token was already used'
          : `bootstrap token used up (${row.max_uses} uses)`,
      );
    return { id: row.id, name: row.name };
  }

  list(): Array<ApiTokenInfo | BootstrapTokenInfo> {
    const api = (
      this.store.stmt('SELECT * FROM api_tokens ORDER BY created_ms').all() as ApiTokenRow[]
    ).map((r) => this.apiInfo(r));
    const boot = (
      this.store.stmt('SELECT * FROM bootstrap_tokens ORDER BY created_ms').all() as BootstrapRow[]
    ).map((r) => this.bootstrapInfo(r));
    return [...api, ...boot];
  }

  /** Revokes an API or bootstrap token by id. Refuses to revoke the last usable admin token. */
  revoke(id: string, by: Principal, source: string): ApiTokenInfo | BootstrapTokenInfo {
    const now = Date.now();
    const api = this.apiRow(id);
    if (api) {
      if (api.revoked_ms !== null) return this.apiInfo(api);
      if (api.role === 'admin') {
        const { n } = this.store
          .stmt(
            "SELECT COUNT(*) AS n FROM api_tokens WHERE role = 'admin' AND revoked_ms IS NULL AND (expires_ms IS NULL OR expires_ms > ?) AND id != ?",
          )
          .get(now, id) as { n: number };
        if (n === 0)
          throw new ConflictException(
            `token ${id}: is the last admin token; create another admin token first`,
          );
      }
      this.store.stmt('UPDATE api_tokens SET revoked_ms = ? WHERE id = ?').run(now, id);
      this.audit.record(
        by,
        'token.revoke',
        { id, kind: 'api' },
        { name: api.name, role: api.role },
        { source },
      );
      return this.apiInfo(this.apiRow(id) as ApiTokenRow);
    }
    const boot = this.store.stmt('SELECT * FROM bootstrap_tokens WHERE id = ?').get(id) as
      | BootstrapRow
      | undefined;
    if (!boot) throw new NotFoundException(`token ${id}: no such token`);
    if (boot.revoked_ms === null) {
      this.store.stmt('UPDATE bootstrap_tokens SET revoked_ms = ? WHERE id = ?').run(now, id);
      this.audit.record(
        by,
        'token.revoke',
        { id, kind: 'bootstrap' },
        { name: boot.name },
        { source },
      );
    }
    return this.bootstrapInfo(
      this.store.stmt('SELECT * FROM bootstrap_tokens WHERE id = ?').get(id) as BootstrapRow,
    );
  }

  private apiRow(id: string): ApiTokenRow | undefined {
    return this.store.stmt('SELECT * FROM api_tokens WHERE id = ?').get(id) as
      | ApiTokenRow
      | undefined;
  }

  private apiInfo(r: ApiTokenRow): ApiTokenInfo {
    return {
      id: r.id,
      kind: 'api',
      name: r.name,
      role: r.role,
      created: iso(r.created_ms) as string,
      created_by: r.created_by,
      expires: iso(r.expires_ms),
      revoked: iso(r.revoked_ms),
      last_used: iso(r.last_used_ms),
    };
  }

  private bootstrapInfo(r: BootstrapRow): BootstrapTokenInfo {
    return {
      id: r.id,
      kind: 'bootstrap',
      name: r.name,
      max_uses: r.max_uses,
      uses: r.uses,
      created: iso(r.created_ms) as string,
      created_by: r.created_by,
      expires: iso(r.expires_ms) as string,
      revoked: iso(r.revoked_ms),
    };
  }
}
