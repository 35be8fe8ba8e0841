// SPDX-License-Identifier: Apache-2.0
/**
 * Bootstrap tokens: `ftboot.<id>.<secret>.sha256-<hex>`. The last part is the
 * SHA-256 of the controller's CA certificate (DER): the agent trusts the CA
 * the controller presents only if it hashes to this, as kubeadm join does,
 * so a token alone is enough to enroll safely over an untrusted network.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { ValidationError } from '@fleettrace/common';

export interface BootstrapToken {
  /** "<id>.<secret>": what the controller redeems; the CA hash is never sent */
  redeemable: string;
  id: string;
  /** "sha256-<hex>" */
  caHash: string;
}

export function parseBootstrapToken(raw: string, field = '--token'): BootstrapToken {
  const m = /^ftboot\.([0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})\.(sha256-[0-9a-f]{64})$/.exec(
    raw.trim(),
  );
  if (!m)
    throw new ValidationError(
      field,
      'must be a bootstrap token ftboot.<id>.<secret>.sha256-<hex> (from `fleettrace token create --bootstrap`)',
    );
  return { id: m[1] as string, redeemable: `${m[1]}.${m[2]}`, caHash: m[3] as string };
}

/** "sha256-<hex>" of a PEM certificate's DER bytes. */
export function caHashOf(pem: string): string {
  return `sha256-${createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')}`;
}
