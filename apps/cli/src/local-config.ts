// SPDX-License-Identifier: Apache-2.0
/**
 * Where `fleettrace up` leaves its address and a local admin token, so every
 * fleettrace command on the same machine works against it with no flags,
 * whatever --data was: $XDG_CONFIG_HOME/fleettrace/local.json (0600).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface LocalConfig {
  /** controller API, e.g. http://127.0.0.1:7780 */
  server: string;
  /** an admin API token of the local controller */
  token: string;
  /** the data directory `up` runs with */
  data: string;
  /** pid of the running `fleettrace up`, 0 once it stopped */
  pid: number;
}

export function localConfigPath(): string {
  return join(
    process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'),
    'fleettrace',
    'local.json',
  );
}

export function readLocalConfig(): LocalConfig | undefined {
  const path = localConfigPath();
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LocalConfig>;
    if (typeof parsed.server !== 'string' || typeof parsed.token !== 'string') return undefined;
    return {
      server: parsed.server,
      token: parsed.token,
      data: parsed.data ?? '',
      pid: parsed.pid ?? 0,
    };
  } catch {
    return undefined;
  }
}

export function writeLocalConfig(config: LocalConfig): string {
  const path = localConfigPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

/** The user's data home for fleettrace (default of `up --data`). */
export function defaultDataDir(): string {
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'fleettrace');
}
