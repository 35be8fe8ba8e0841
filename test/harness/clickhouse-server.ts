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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  clickHouseBinary,
  waitForClickHouse,
  writeClickHouseConfig,
  type ClickHouseConfig,
} from '@fleettrace/local-services';
import { queryUsersXml, type QueryLimits } from '@fleettrace/store';
import { freePort, LocalProcess, ServiceExited } from './local-processes';

export const VIEWER = { username: 'fleettrace_viewer', password: 'viewer-secret' };
export const ADMIN = { username: 'fleettrace_admin', password: 'admin-secret' };

function serverBinary(): string {
  const binary = clickHouseBinary();
  if (!binary)
    throw new Error('clickhouse-server is not installed: run `node scripts/test-services.mjs`');
  return binary;
}

export interface ClickHouseServerOptions {
  /** write the query users into users.d (default true) */
  queryUsers?: boolean;
  /** more elements of config.xml's root, e.g. <remote_servers> */
  extraConfig?: (ports: { http: number; tcp: number }) => string;
}

export class ClickHouseServer {
  private process?: LocalProcess;

  private constructor(private readonly config: ClickHouseConfig) {}

  get dir(): string {
    return this.config.dir;
  }

  get httpPort(): number {
    return this.config.httpPort;
  }

  get tcpPort(): number {
    return this.config.tcpPort;
  }

  get url(): string {
    return this.config.url;
  }

  /** the server process's pid (for CPU accounting in benchmarks) */
  get pid(): number | undefined {
    return this.process?.child.pid;
  }

  /** The users.d directory next to users.xml: the server merges its files and rereads them when they change. */
  get usersDir(): string {
    return this.config.usersDir;
  }

  static async start(
    limits?: QueryLimits,
    { queryUsers = true, extraConfig }: ClickHouseServerOptions = {},
  ): Promise<ClickHouseServer> {
    const dir = mkdtempSync(join(tmpdir(), 'fleettrace-clickhouse-'));
    const [http, tcp] = [await freePort(), await freePort()];
    const config = writeClickHouseConfig(dir, {
      httpPort: http,
      tcpPort: tcp,
      extraConfig: extraConfig?.({ http, tcp }),
    });
    if (queryUsers)
      writeFileSync(
        join(config.usersDir, 'fleettrace-query-users.xml'),
        queryUsersXml({ viewer: VIEWER, admin: ADMIN, limits }),
      );
    const server = new ClickHouseServer(config);
    await server.startProcess();
    return server;
  }

  private async startProcess(): Promise<void> {
    const child = LocalProcess.start('clickhouse', serverBinary(), [
      `--config-file=${this.config.configFile}`,
    ]);
    this.process = child;
    await waitForClickHouse(this.url, () => {
      if (!child.running) throw new ServiceExited(`clickhouse-server exited: ${child.log}`);
    });
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
