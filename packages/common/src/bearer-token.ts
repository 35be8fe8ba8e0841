// SPDX-License-Identifier: Apache-2.0
/**
 * Bearer tokens of fleettrace's own HTTP endpoints (agent and ingest
 * /metrics, ingest's queries): a random secret in a file only its owner can
 * read, which Prometheus and scripts read with `bearer_token_file` or
 * `authorization.credentials_file`. Every customer of a shared host can
 * reach a loopback port: nothing there answers without it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

/** The token in `file`, made (32 random bytes, base64url, mode 0600) when there is none. */
export function ownerTokenFile(file: string): string {
  try {
    writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 16) throw new Error(`${file}: a token of at least 16 characters is needed`);
  return token;
}

/** Whether an Authorization header carries exactly `Bearer <token>` (constant time). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
