// SPDX-License-Identifier: Apache-2.0
/**
 * Roles of API tokens, each including the ones below it:
 * viewer (read and query) < operator (run standard collectors) < admin
 * (collectors that see sensitive data, token management, revocation, audit).
 */
import { SetMetadata } from '@nestjs/common';
import { manifests } from '@fleettrace/collectors/manifests';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/**
 * Collectors that see sensitive data (DESIGN.md, security), from their
 * manifests (role admin, with what they see): per-call syscall arguments and
 * paths, exec arguments (`proc` is admin-only as a whole rather than losing
 * its argv for non-admins: a half-redacted exec log would mislead).
 */
export function adminOnlyCollectors(): Record<string, string> {
  return Object.fromEntries(
    [...manifests().values()]
      .filter((m) => m.role === 'admin')
      .map((m) => [m.name, m.sensitiveBecause ?? 'sensitive data']),
  );
}

/** Who made a request: the API token's id, name and role. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}

export const ROLE_KEY = 'fleettrace:role';
export const PUBLIC_KEY = 'fleettrace:public';

/** The least role a route needs (routes without it need `viewer`). */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);
/** No token needed (health, metrics, the OpenAPI document). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/** A principal for work the controller does on its own (schedules firing). */
export function systemPrincipal(name: string): Principal {
  return { tokenId: 'system', name, role: 'admin' };
}
