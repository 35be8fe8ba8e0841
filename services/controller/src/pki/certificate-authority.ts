// SPDX-License-Identifier: Apache-2.0
/**
 * X.509 for the controller: a CA (generated, or an operator's), the server
 * certificate of the gRPC listeners, and client certificates for agents issued
 * from their PKCS#10 requests. Keys are ECDSA P-256 unless an operator's CA
 * says otherwise (P-256, P-384 and RSA CA keys are accepted).
 */
// @peculiar/x509 resolves its ASN.1 handlers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { createHash, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface IssuedCertificate {
  pem: string;
  /** upper-case hex, as Node's TLS reports a peer's serialNumber */
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

export interface KeyPairPem {
  keyPem: string;
  certPem: string;
}

/** "sha256-<hex>" of the DER bytes of a PEM certificate: what bootstrap tokens carry. */
export function caHashOf(pem: string): string {
  const der = Buffer.from(new x509.X509Certificate(pem).rawData);
  return `sha256-${createHash('sha256').update(der).digest('hex')}`;
}

/** A positive 127-bit serial whose hex form has no leading zero. */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) | 0x10;
  return b.toString('hex').toUpperCase();
}

export function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)?.join('\n')}\n-----END ${label}-----\n`;
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

interface SigningKey {
  key: CryptoKey;
  algorithm: Algorithm | EcdsaParams;
}

/** Imports a PEM private key (PKCS#8, SEC1 or PKCS#1) for signing certificates. */
export async function importSigningKey(pem: string, field: string): Promise<SigningKey> {
  let keyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${field}: not a PEM private key (${(err as Error).message})`);
  }
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (!named) throw new Error(`${field}: EC curve ${curve} is not supported (P-256 or P-384)`);
    const hash = named === 'P-256' ? 'SHA-256' : 'SHA-384';
    const key = await webcrypto.subtle.importKey(
      'pkcs8',
      der,
      { name: 'ECDSA', namedCurve: named },
      false,
      ['sign'],
    );
    return { key, algorithm: { name: 'ECDSA', hash } as EcdsaParams };
  }
  if (keyObject.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const key = await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
    return { key, algorithm };
  }
  throw new Error(`${field}: key type ${keyObject.asymmetricKeyType} is not supported (EC or RSA)`);
}

export class CertificateAuthority {
  /** the same for every certificate this CA issues: computed once (hashing the CA key each time costs ms) */
  private authorityKeyId?: Promise<x509.AuthorityKeyIdentifierExtension>;

  private constructor(
    readonly certificate: x509.X509Certificate,
    private readonly signing: SigningKey,
  ) {}

  get certPem(): string {
    return this.certificate.toString('pem') + '\n';
  }

  get hash(): string {
    return caHashOf(this.certPem);
  }

  static async generate(
    commonName: string,
    lifetimeMs: number,
  ): Promise<{ ca: CertificateAuthority; keyPem: string }> {
    const keys = await generateKeyPair();
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${commonName}, O=fleettrace`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + lifetimeMs),
      signingAlgorithm: EC_P256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const ca = new CertificateAuthority(certificate, { key: keys.privateKey, algorithm: EC_P256 });
    return { ca, keyPem: await privateKeyPem(keys.privateKey) };
  }

  static async load(certPem: string, keyPem: string, where: string): Promise<CertificateAuthority> {
    let certificate;
    try {
      certificate = new x509.X509Certificate(certPem);
    } catch (err) {
      throw new Error(`${where}: not a PEM certificate (${(err as Error).message})`);
    }
    const basic = certificate.getExtension(x509.BasicConstraintsExtension);
    if (!basic?.ca)
      throw new Error(`${where}: certificate is not a CA (basicConstraints CA:TRUE missing)`);
    if (certificate.notAfter.getTime() <= Date.now())
      throw new Error(`${where}: CA certificate expired on ${certificate.notAfter.toISOString()}`);
    const signing = await importSigningKey(keyPem, `${where} key`);
    const ca = new CertificateAuthority(certificate, signing);
    // The key must belong to the certificate: sign something and verify with the cert.
    const probe = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: 'CN=key check',
      issuer: certificate.subject,
      publicKey: certificate.publicKey,
      signingKey: signing.key,
      signingAlgorithm: signing.algorithm,
    });
    if (!(await probe.verify({ publicKey: certificate.publicKey, signatureOnly: true })))
      throw new Error(`${where}: the key does not match the CA certificate`);
    return ca;
  }

  private async issue(
    subject: string,
    publicKey: x509.PublicKey | CryptoKey,
    lifetimeMs: number,
    extensions: x509.Extension[],
  ): Promise<IssuedCertificate> {
    const now = Date.now();
    // A little back-dating tolerates clock skew between controller and agents.
    const notBefore = new Date(now - 60_000);
    const notAfter = new Date(Math.min(now + lifetimeMs, this.certificate.notAfter.getTime()));
    const serial = randomSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject,
      issuer: this.certificate.subject,
      notBefore,
      notAfter,
      publicKey,
      signingKey: this.signing.key,
      signingAlgorithm: this.signing.algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        await (this.authorityKeyId ??= x509.AuthorityKeyIdentifierExtension.create(
          this.certificate,
          false,
        )),
        ...extensions,
      ],
    });
    return {
      pem: cert.toString('pem') + '\n',
      serial,
      notBeforeMs: notBefore.getTime(),
      notAfterMs: notAfter.getTime(),
    };
  }

  /**
   * A client certificate for agent `agentId` from its PKCS#10 request. The
   * request's signature proves the agent holds the key; its subject is
   * ignored: the controller names the agent (CN = agent id).
   */
  async issueClientCertificate(
    csrPem: string,
    agentId: string,
    lifetimeMs: number,
  ): Promise<IssuedCertificate> {
    const csr = await verifyCsr(csrPem);
    return this.issue(`CN=${agentId}, O=fleettrace-agent`, csr.publicKey, lifetimeMs, [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    ]);
  }

  /** The listeners' certificate, for `names` (DNS names and IP addresses). */
  async issueServerCertificate(
    names: string[],
    lifetimeMs: number,
  ): Promise<KeyPairPem & IssuedCertificate> {
    const keys = await generateKeyPair();
    const san = names.map((n) => ({
      type: (/^[\d.]+$/.test(n) || n.includes(':') ? 'ip' : 'dns') as 'ip' | 'dns',
      value: n,
    }));
    const issued = await this.issue(
      'CN=fleettrace-controller, O=fleettrace',
      keys.publicKey,
      lifetimeMs,
      [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(san, false),
      ],
    );
    return { ...issued, certPem: issued.pem, keyPem: await privateKeyPem(keys.privateKey) };
  }
}

/** Parses a PKCS#10 request and checks its signature (proof that the requester holds the key). */
export async function verifyCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CsrError(`not a PEM certificate request (${(err as Error).message})`);
  }
  if (!(await csr.verify())) throw new CsrError('its signature does not verify');
  return csr;
}

/** A certificate request that cannot be used; the message says why. */
export class CsrError extends Error {
  override name = 'CsrError';
}
