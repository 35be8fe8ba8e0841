// SPDX-License-Identifier: Apache-2.0
/**
 * A ClickHouse server (the Debian clickhouse-server package, 18.16 on Debian
 * 12) run as a local process for tests: its own config, data and logs in a
 * temporary directory, HTTP and native ports on loopback, the owner as the
 * passwordless "default" user and the query users from @fleettrace/store's
 * queryUsersXml (readonly=1, limits in their profile) unless asked not to
 * (a test of provisioning them). Can be stopped and started again on the
 * same data (fault tests).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryUsersXml, type QueryLimits } from '@fleettrace/store';
import { freePort, LocalProcess, waitFor } from './local-processes';

export const VIEWER = { username: 'fleettrace_viewer', password: 'viewer-secret' };
export const ADMIN = { username: 'fleettrace_admin', password: 'admin-secret' };

function serverBinary(): string {
  for (const p of [
    '/usr/bin/clickhouse-server',
    '/usr/sbin/clickhouse-server',
    '/usr/bin/clickhouse',
  ]) {
    try {
      execFileSync('test', ['-x', p]);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error('clickhouse-server is not installed: run `node scripts/test-services.mjs`');
}

export interface ClickHouseServerOptions {
  /** write the query users into users.d (default true) */
  queryUsers?: boolean;
  /** more elements of config.xml's root, e.g. <remote_servers> */
  extraConfig?: (ports: { http: number; tcp: number }) => string;
}

export class ClickHouseServer {
  private process?: LocalProcess;

  private constructor(
    readonly dir: string,
    readonly httpPort: number,
    readonly tcpPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** The users.d directory next to users.xml: the server merges its files and rereads them when they change. */
  get usersDir(): string {
    return join(this.dir, 'users.d');
  }

  static async start(
    limits?: QueryLimits,
    { queryUsers = true, extraConfig }: ClickHouseServerOptions = {},
  ): Promise<ClickHouseServer> {
    const dir = mkdtempSync(join(tmpdir(), 'fleettrace-clickhouse-'));
    const [http, tcp] = [await freePort(), await freePort()];
    for (const d of ['data', 'tmp', 'user_files', 'format_schemas', 'log', 'users.d'])
      mkdirSync(join(dir, d));
    writeFileSync(
      join(dir, 'config.xml'),
      `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog></logger>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
${extraConfig?.({ http, tcp }) ?? ''}
</yandex>
`,
    );
    writeFileSync(
      join(dir, 'users.xml'),
      `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`,
    );
    if (queryUsers)
      writeFileSync(
        join(dir, 'users.d', 'fleettrace-query-users.xml'),
        queryUsersXml({ viewer: VIEWER, admin: ADMIN, limits }),
      );
    const server = new ClickHouseServer(dir, http, tcp);
    await server.startProcess();
    return server;
  }

  private async startProcess(): Promise<void> {
    this.process = LocalProcess.start('clickhouse', serverBinary(), [
      `--config-file=${join(this.dir, 'config.xml')}`,
    ]);
    await waitFor(
      'the ClickHouse server to answer /ping',
      async () => {
        if (!this.process?.running)
          throw new Error(`clickhouse-server exited: ${this.process?.log}`);
        const r = await fetch(`${this.url}/ping`);
        return r.ok;
      },
      60_000,
    );
  }

  /** Stops the server (SIGTERM, as `systemctl stop` would). */
  async stop(): Promise<void> {
    await this.process?.stop('SIGTERM', 20_000);
  }

  /**
   * Kills it with SIGKILL: down at once, nothing finished gracefully (a
   * SIGTERM lets it complete the inserts in flight first, which can take
   * seconds). `restart` brings it back on the same data.
   */
  async kill(): Promise<void> {
    await this.process?.stop('SIGKILL');
  }

  /** Starts it again on the same data and ports. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startProcess();
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
