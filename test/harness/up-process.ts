// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace up` as a child process on ports of the test's choosing (the
 * local bus on its default unix socket in the data directory), resolved once
 * it printed that it is up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './local-processes';

const CLI = resolve(__dirname, '../../../bin/fleettrace');

/** API, enrollment, control stream and the agent's /metrics. */
export type UpPorts = [api: number, enroll: number, control: number, agentMetrics: number];

export async function freeUpPorts(): Promise<UpPorts> {
  return Promise.all([freePort(), freePort(), freePort(), freePort()]);
}

export async function startUp(o: {
  data: string;
  env: NodeJS.ProcessEnv;
  ports: UpPorts;
  extra?: string[];
}): Promise<{ child: ChildProcess; stderr: () => string }> {
  const [api, enroll, control, metrics] = o.ports;
  const child = spawn(
    CLI,
    [
      'up',
      '--data',
      o.data,
      '--listen',
      `127.0.0.1:${api}`,
      '--enroll-listen',
      `127.0.0.1:${enroll}`,
      '--control-listen',
      `127.0.0.1:${control}`,
      '--agent-metrics',
      `127.0.0.1:${metrics}`,
      ...(o.extra ?? []),
    ],
    { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`up did not start in 90 s: ${err.slice(-2000)}`)),
      90_000,
    );
    child.stdout!.on('data', () => {
      if (out.includes('fleettrace is up')) {
        clearTimeout(timer);
        res();
      }
    });
    child.once('exit', (code) => rej(new Error(`up exited ${code}: ${err.slice(-2000)}`)));
  });
  return { child, stderr: () => err };
}
