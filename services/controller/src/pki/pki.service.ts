// SPDX-License-Identifier: Apache-2.0
/**
 * The controller's CA and listener certificate. On first start it generates
 * a CA in <data>/pki (key 0600); an operator may give one instead
 * (caCertFile/caKeyFile), which is read on every start and never copied. The
 * listeners' server certificate is issued afresh at every start for the
 * loopback names, this host's name, the listen addresses and the configured
 * extra names, so it never goes stale.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { CONFIG, LOGGER, type ResolvedConfig } from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import {
  CertificateAuthority,
  type IssuedCertificate,
  type KeyPairPem,
} from './certificate-authority.js';

const CA_LIFETIME_MS = 10 * 365 * 24 * 3_600_000;
const SERVER_CERT_LIFETIME_MS = 365 * 24 * 3_600_000;

@Injectable()
export class PkiService implements OnModuleInit {
  private authority?: CertificateAuthority;
  private server?: KeyPairPem;
  private readonly log: JsonLogger;

  constructor(
    @Inject(CONFIG) private readonly config: ResolvedConfig,
    @Inject(LOGGER) logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'pki' });
  }

  async onModuleInit(): Promise<void> {
    this.authority = await this.loadOrCreateCa();
    const names = new Set([
      'localhost',
      '127.0.0.1',
      '::1',
      hostname(),
      ...this.config.serverNames,
    ]);
    for (const hp of [this.config.enrollListen, this.config.controlListen])
      if (hp.host !== '0.0.0.0' && hp.host !== '::') names.add(hp.host);
    if (this.config.controlAdvertise)
      names.add(this.config.controlAdvertise.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''));
    this.server = await this.authority.issueServerCertificate([...names], SERVER_CERT_LIFETIME_MS);
    this.log.info('certificate authority ready', {
      ca_hash: this.authority.hash,
      ca_subject: this.authority.certificate.subject,
      ca_not_after: this.authority.certificate.notAfter.toISOString(),
      server_names: [...names],
    });
  }

  private async loadOrCreateCa(): Promise<CertificateAuthority> {
    if (this.config.caCertFile && this.config.caKeyFile) {
      return CertificateAuthority.load(
        readFileSync(this.config.caCertFile, 'utf8'),
        readFileSync(this.config.caKeyFile, 'utf8'),
        this.config.caCertFile,
      );
    }
    const dir = join(this.config.dataDir, 'pki');
    const certFile = join(dir, 'ca.crt');
    const keyFile = join(dir, 'ca.key');
    if (existsSync(certFile) && existsSync(keyFile))
      return CertificateAuthority.load(
        readFileSync(certFile, 'utf8'),
        readFileSync(keyFile, 'utf8'),
        certFile,
      );
    if (existsSync(certFile) !== existsSync(keyFile))
      throw new Error(
        `${dir}: has only one of ca.crt and ca.key; restore the other or remove both to start a new CA`,
      );
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { ca, keyPem } = await CertificateAuthority.generate(
      `fleettrace CA ${hostname()}`,
      CA_LIFETIME_MS,
    );
    writeFileSync(keyFile, keyPem, { mode: 0o600, flag: 'wx' });
    writeFileSync(certFile, ca.certPem, { mode: 0o600, flag: 'wx' });
    this.log.info('generated a new certificate authority', { cert: certFile });
    return ca;
  }

  get ca(): CertificateAuthority {
    if (!this.authority) throw new Error('PKI used before initialisation');
    return this.authority;
  }

  get caPem(): string {
    return this.ca.certPem;
  }

  get caHash(): string {
    return this.ca.hash;
  }

  get serverKeyPair(): KeyPairPem {
    if (!this.server) throw new Error('PKI used before initialisation');
    return this.server;
  }

  issueClientCertificate(csrPem: string, agentId: string): Promise<IssuedCertificate> {
    return this.ca.issueClientCertificate(csrPem, agentId, this.config.clientCertLifetimeMs);
  }
}
