// SPDX-License-Identifier: Apache-2.0
/**
 * A fresh ECDSA P-256 key and a PKCS#10 request for it, for enrollment and
 * renewal. The subject is only a hint: the controller names the agent. The
 * private key never leaves the host.
 */
// @peculiar/x509 resolves its ASN.1 handlers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)?.join('\n')}\n-----END ${label}-----\n`;
}

export interface KeyAndRequest {
  /** PKCS#8 PEM */
  keyPem: string;
  csrPem: string;
}

export async function newKeyAndRequest(hostname: string): Promise<KeyAndRequest> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${hostname.replace(/[,=+<>#;"\\]/g, '_')}`,
    keys: keys as unknown as CryptoKeyPairLike,
    signingAlgorithm: EC_P256,
  });
  return {
    keyPem: toPem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'),
    csrPem: csr.toString('pem') + '\n',
  };
}

type CryptoKeyPairLike = Parameters<
  typeof x509.Pkcs10CertificateRequestGenerator.create
>[0]['keys'];
