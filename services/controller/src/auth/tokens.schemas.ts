// SPDX-License-Identifier: Apache-2.0
/** Requests and responses of /api/v1/tokens and /api/v1/whoami; the OpenAPI document is generated from them. */
import { z } from 'zod';
import { choice, duration, fields, integer, text } from '../http/request-fields.js';
import { ROLES } from './roles.js';

const name = (dflt: string) =>
  text({
    max: 100,
    pattern: /^[\w .@:-]+$/,
    hint: 'may contain letters, digits, space and _ . @ : -',
  })
    .optional()
    .meta({ description: `shown in lists and the audit log (${dflt})` });

/** Which of the two token requests a body is: `kind`, api unless told. */
export const TokenKindRequest = z.object(
  { kind: choice(['api', 'bootstrap']).optional() },
  { error: 'must be a JSON object' },
);

export const ApiTokenRequest = fields({
  kind: z.literal('api', { error: 'must be one of api, bootstrap' }).optional(),
  name: name('unnamed'),
  role: choice(ROLES),
  ttl: duration(60_000, 5 * 365 * 86_400_000, 'e.g. 720h; no ttl = no expiry').optional(),
});

export const BootstrapTokenRequest = fields({
  kind: z.literal('bootstrap', { error: 'must be one of api, bootstrap' }),
  name: name('bootstrap'),
  max_uses: integer(1, 1_000_000).meta({ description: 'enrollments it allows (1)' }),
  ttl: duration(1_000, 30 * 86_400_000, 'default 24h, at most 30 days').optional(),
});

/** Body of POST /api/v1/tokens: an API token or an agent bootstrap token. */
export const TokenRequest = z.union([ApiTokenRequest, BootstrapTokenRequest]);

const tokenCommon = {
  id: z.string(),
  name: z.string(),
  created: z.string(),
  created_by: z.string(),
  revoked: z.string().nullable(),
};

/** A token without its secret: an API token or an agent bootstrap token. */
export const TokenResponse = z.discriminatedUnion('kind', [
  z.object({
    ...tokenCommon,
    kind: z.literal('api'),
    role: z.enum(ROLES),
    expires: z.string().nullable(),
    last_used: z.string().nullable(),
  }),
  z.object({
    ...tokenCommon,
    kind: z.literal('bootstrap'),
    max_uses: z.int(),
    uses: z.int(),
    expires: z.string(),
  }),
]);

export const CreatedTokenResponse = z.object({
  token: z.string().meta({ description: 'the secret, shown this once' }),
  info: TokenResponse,
});
export const TokenListResponse = z.object({ tokens: z.array(TokenResponse) });
export const WhoamiResponse = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  collectors: z.array(z.string()).meta({
    description:
      'the collectors this token may put in a job: none for viewer, those that see no sensitive data for operator, all for admin',
  }),
});

export type TokenResponse = z.infer<typeof TokenResponse>;
export type CreatedTokenResponse = z.infer<typeof CreatedTokenResponse>;
export type TokenListResponse = z.infer<typeof TokenListResponse>;
export type WhoamiResponse = z.infer<typeof WhoamiResponse>;
