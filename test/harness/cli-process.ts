// SPDX-License-Identifier: Apache-2.0
/**
 * The built `fleettrace` command for CLI tests: one-shot runs (`cli`) and
 * long-running services (`startCli`, resolved once their stdout says they
 * are ready).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI = resolve(__dirname, '../../../bin/fleettrace');

/** Runs `fleettrace args…` to completion (60 s at most) with `env` added to this process's. */
export function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(CLI, args, {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
}

/** Starts a long-running command; resolves once stdout matches `ready`, rejects if it exits first. */
export function startCli(
  args: string[],
  ready: RegExp,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; stdout: string; stderr: () => string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(CLI, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (ready.test(out)) resolvePromise({ child, stdout: out, stderr: () => err });
    });
    child.stderr?.on('data', (d) => (err += d));
    child.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${err.slice(-2000)}`)));
  });
}
