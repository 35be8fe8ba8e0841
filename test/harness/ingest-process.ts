// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace ingest` as a child process (the built CLI), so tests can kill
 * it (failpoints, SIGKILL) and start another in its place. `query` goes
 * through its /v1/query endpoint, the only way into an embedded store that
 * the process holds, with the bearer token the process made.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { QueryResult } from '@fleettrace/store';
import { LocalProcess } from './local-processes';

const CLI = resolve(__dirname, '../../../apps/cli/dist/src/main.js');

export interface IngestArgs {
  bus: 'kafka' | 'local';
  brokers?: string[];
  listen?: string;
  /** the local bus's publisher token file (--bus-token-file) */
  busTokenFile?: string;
  store: 'server' | 'embedded';
  clickhouseUrl?: string;
  dataDir?: string;
  /** more flags, e.g. --kafka-sasl-* */
  extraArgs?: string[];
  failpoints?: string;
  /** a deliberately wrong ingest (FLEETTRACE_TEST_BROKEN), to prove the checks catch it */
  broken?: 'commit-first';
}

export class IngestProcess {
  private constructor(
    readonly process: LocalProcess,
    readonly httpPort: number,
    private readonly httpToken: string,
  ) {}

  static async start(a: IngestArgs): Promise<IngestProcess> {
    const args = ['ingest', '--bus', a.bus, '--store', a.store, '--http', '127.0.0.1:0'];
    if (a.brokers) args.push('--brokers', a.brokers.join(','));
    if (a.listen) args.push('--listen', a.listen);
    if (a.busTokenFile) args.push('--bus-token-file', a.busTokenFile);
    if (a.clickhouseUrl) args.push('--clickhouse-url', a.clickhouseUrl);
    if (a.dataDir) args.push('--data', a.dataDir);
    args.push(...(a.extraArgs ?? []));
    const env = {
      ...process.env,
      FLEETTRACE_FAILPOINTS: a.failpoints ?? '',
      FLEETTRACE_TEST_BROKEN: a.broken ?? '',
    };
    const marks = [a.failpoints, a.broken && `broken:${a.broken}`].filter(Boolean).join(',');
    const p = LocalProcess.start(
      `ingest${marks ? `[${marks}]` : ''}`,
      process.execPath,
      [CLI, ...args],
      { env },
    );
    const m = await p.waitForOutput(/http on [\d.]+:(\d+) .*bearer token in (\S+)\)/, 90_000);
    return new IngestProcess(p, Number(m[1]), readFileSync(m[2]!, 'utf8').trim());
  }

  get running(): boolean {
    return this.process.running;
  }

  /** A validated viewer query through the endpoint. */
  async query(sql: string): Promise<QueryResult> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.httpToken}` },
      body: JSON.stringify({ sql }),
    });
    const body = (await res.json()) as QueryResult & { error?: string };
    if (!res.ok) throw new Error(`ingest query: ${res.status} ${body.error}`);
    return body;
  }

  async metrics(): Promise<string> {
    return (
      await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, {
        headers: { authorization: `Bearer ${this.httpToken}` },
      })
    ).text();
  }

  async stop(): Promise<void> {
    await this.process.stop('SIGTERM');
  }
}
