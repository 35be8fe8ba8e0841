// SPDX-License-Identifier: Apache-2.0
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import {
  CertificateAuthority,
  caHashOf,
  CsrError,
  EC_P256,
  generateKeyPair,
} from '../../src/pki/certificate-authority.js';

/** What an agent sends: a PKCS#10 request for a fresh key. */
async function csrFor(name: string): Promise<string> {
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys: keys as unknown as Parameters<
      typeof x509.Pkcs10CertificateRequestGenerator.create
    >[0]['keys'],
    signingAlgorithm: EC_P256,
  });
  return csr.toString('pem');
}

describe('certificate authority', () => {
  test('issues client certificates named by the controller, with a lifetime, from a verified CSR', async () => {
    const { ca, keyPem } = await CertificateAuthority.generate('test CA', 86_400_000);
    assert.match(keyPem, /BEGIN PRIVATE KEY/);
    const csrPem = await csrFor('web-1');
    const issued = await ca.issueClientCertificate(csrPem, 'agt_0123456789abcdef', 5_000);
    const cert = new X509Certificate(issued.pem);
    assert.match(cert.subject, /CN=agt_0123456789abcdef/);
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
    assert.equal(cert.serialNumber.toUpperCase().replace(/^0+/, ''), issued.serial);
    assert.ok(
      Math.abs(Date.parse(cert.validTo) - (Date.now() + 5_000)) < 2_000,
      'lifetime from issue',
    );
    assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));

    await assert.rejects(ca.issueClientCertificate('not a csr', 'agt_x', 1000), CsrError);
    const tampered = csrPem.replace(/[A-Za-z](?=[A-Za-z0-9+/=]*\n-----END)/, (ch: string) =>
      ch === 'A' ? 'B' : 'A',
    );
    await assert.rejects(ca.issueClientCertificate(tampered, 'agt_x', 1000), CsrError);
  });

  test('the CA hash is sha256 of the DER certificate', async () => {
    const { ca } = await CertificateAuthority.generate('hash CA', 60_000);
    const der = new X509Certificate(ca.certPem).raw;
    assert.equal(caHashOf(ca.certPem), `sha256-${createHash('sha256').update(der).digest('hex')}`);
  });

  test("an operator's CA loads with its key and is refused with another key", async () => {
    const { ca, keyPem } = await CertificateAuthority.generate('operator CA', 60_000);
    const loaded = await CertificateAuthority.load(ca.certPem, keyPem, 'ca.crt');
    assert.equal(loaded.hash, ca.hash);
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    }) as string;
    await assert.rejects(
      CertificateAuthority.load(ca.certPem, other, 'ca.crt'),
      /ca.crt: the key does not match the CA certificate/,
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    }) as string;
    await assert.rejects(CertificateAuthority.load(ca.certPem, rsa, 'ca.crt'), /does not match/);
    await assert.rejects(
      CertificateAuthority.load('garbage', keyPem, 'ca.crt'),
      /ca.crt: not a PEM certificate/,
    );
  });
});
