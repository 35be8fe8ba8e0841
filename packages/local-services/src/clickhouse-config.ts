// SPDX-License-Identifier: Apache-2.0
/**
 * The ClickHouse server of Debian's clickhouse-server package (18.16 on
 * Debian 12) with its config, data and logs in one directory and its HTTP
 * and native ports on loopback: the files it reads, where its binary is, and
 * the wait for it to answer.
 */
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './readiness';

/** The clickhouse-server binary, or undefined if it is not installed. */
export function clickHouseBinary(): string | undefined {
  for (const p of ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server']) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

export interface ClickHouseConfig {
  dir: string;
  httpPort: number;
  tcpPort: number;
  url: string;
  /** config.xml: the server's --config-file */
  configFile: string;
  /** merged into users.xml; the server rereads its files when they change */
  usersDir: string;
  serverLog: string;
}

/**
 * Writes config.xml and users.xml into `dir` and makes the directories they
 * name (data, tmp, log, users.d, …). The one user is `default`, the owner:
 * no password, loopback only (as in the README's fleet setup, where ingest
 * and the controller connect as the owner without a password). The query
 * users are the caller's to add in usersDir. `extraConfig`: more elements of
 * config.xml's root, e.g. <remote_servers>.
 */
export function writeClickHouseConfig(
  dir: string,
  options: { httpPort: number; tcpPort: number; extraConfig?: string },
): ClickHouseConfig {
  const { httpPort, tcpPort } = options;
  for (const d of ['data', 'tmp', 'user_files', 'format_schemas', 'log', 'users.d'])
    mkdirSync(join(dir, d), { recursive: true });
  const config: ClickHouseConfig = {
    dir,
    httpPort,
    tcpPort,
    url: `http://127.0.0.1:${httpPort}`,
    configFile: join(dir, 'config.xml'),
    usersDir: join(dir, 'users.d'),
    serverLog: join(dir, 'log', 'server.log'),
  };
  writeFileSync(
    config.configFile,
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${config.serverLog}</log><errorlog>${dir}/log/error.log</errorlog></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
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
${options.extraConfig ?? ''}
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
  return config;
}

/**
 * Resolves once the server at `url` answers /ping. `assertRunning` is called
 * before each try and should throw ServiceExited once the process is gone.
 */
export async function waitForClickHouse(
  url: string,
  assertRunning: () => void,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    'the ClickHouse server to answer /ping',
    async () => {
      assertRunning();
      return (await fetch(`${url}/ping`)).ok;
    },
    timeoutMs,
    200,
  );
}
