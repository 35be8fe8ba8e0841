// SPDX-License-Identifier: Apache-2.0
/**
 * The built `fleettrace` command for CLI tests: one-shot runs (`cli`),
 * long-running services (`startCli`, resolved once their stdout says they
 * are ready), and the fleet's two services as the tests start them: a
 * controller on loopback (`startController`) and agents enrolled with it
 * (`startAgent`).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from '@fleettrace/local-services';

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

/** SIGTERM to a command started with startCli; resolves once it has exited (at once if it had). */
export function stopCli(child: ChildProcess | undefined): Promise<void> {
  return new Promise((r) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return r();
    child.removeAllListeners('exit');
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

/** A `fleettrace controller` on its first start, with what it printed. */
export interface StartedController {
  child: ChildProcess;
  /** the REST API's URL */
  api: string;
  /** the enrollment address (TLS), for `fleettrace agent --controller` */
  enroll: string;
  /** the agents' control stream address (mutual TLS) */
  control: string;
  /** the CA's hash, as in a bootstrap token */
  caHash: string;
  /** the first admin's API token */
  admin: string;
  /** FLEETTRACE_SERVER and FLEETTRACE_TOKEN: the user commands as the first admin */
  env: Record<string, string>;
  stderr: () => string;
}

const LOOPBACK_LISTENERS = [
  '--listen',
  '127.0.0.1:0',
  '--enroll-listen',
  '127.0.0.1:0',
  '--control-listen',
  '127.0.0.1:0',
];

/**
 * Starts `fleettrace controller args…` on a new data directory (its first
 * start, so it prints the first admin token) with `env` added, its three
 * listeners on ports the kernel picks on loopback unless `loopback` is false
 * (the listeners come from --config). Resolves with the addresses and token
 * it printed.
 */
export async function startController(
  args: string[],
  env: Record<string, string> = {},
  { loopback = true }: { loopback?: boolean } = {},
): Promise<StartedController> {
  const started = await startCli(
    ['controller', ...(loopback ? LOOPBACK_LISTENERS : []), ...args],
    /admin API token[^\n]*\n\s+(ftapi\S+)\n/,
    env,
  );
  const addresses =
    /^\s+api\s+(http\S+)\n\s+enroll\s+(\S+) \(TLS\)\n\s+control\s+(\S+) \(mutual TLS\)\n\s+ca\s+(sha256-[0-9a-f]{64})\n/m.exec(
      started.stdout,
    );
  const admin = /admin API token[^\n]*\n\s+(ftapi\S+)\n/.exec(started.stdout)?.[1];
  if (!addresses || !admin) throw new Error(`controller: unexpected output:\n${started.stdout}`);
  const api = addresses[1] as string;
  return {
    child: started.child,
    api,
    enroll: addresses[2] as string,
    control: addresses[3] as string,
    caHash: addresses[4] as string,
    admin,
    env: { FLEETTRACE_SERVER: api, FLEETTRACE_TOKEN: admin },
    stderr: started.stderr,
  };
}

/** `fleettrace token create --bootstrap` as the controller's first admin: a token for `uses` enrollments. */
export function bootstrapToken(
  controller: Pick<StartedController, 'env'>,
  name: string,
  uses = 1,
): string {
  const r = cli(
    ['token', 'create', '--bootstrap', '--uses', String(uses), '--name', name],
    controller.env,
  );
  if (r.status !== 0) throw new Error(`token create --bootstrap exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Starts `fleettrace agent args…` enrolling with `controller` on a new
 * bootstrap token (named `token.name`, for `token.uses` agents: --simulate N
 * needs N), in a fresh state directory; resolves once stdout matches `ready`.
 */
export async function startAgent(
  controller: Pick<StartedController, 'env' | 'enroll'>,
  args: string[],
  { name, uses = 1, ready = /is agent/ }: { name: string; uses?: number; ready?: RegExp },
): Promise<{ child: ChildProcess; state: string; stderr: () => string }> {
  const token = bootstrapToken(controller, name, uses);
  const state = mkdtempSync(join(tmpdir(), 'fleettrace-cli-agent-'));
  const started = await startCli(
    ['agent', '--controller', controller.enroll, '--state', state, ...args],
    ready,
    { FLEETTRACE_BOOTSTRAP_TOKEN: token },
  );
  return { child: started.child, state, stderr: started.stderr };
}

/**
 * `fleettrace run --collect proc --uid UID --hosts HOSTS --duration D` as
 * `env`'s user (FLEETTRACE_SERVER, FLEETTRACE_TOKEN); resolves with the job's
 * id once `runs` of its runs are running, so the exec events that follow are
 * seen.
 */
export async function startProcJob(
  env: Record<string, string>,
  o: { uid: number; hosts: string; duration: string; runs: number },
): Promise<string> {
  const r = cli(
    [
      'run',
      '--collect',
      'proc',
      '--uid',
      String(o.uid),
      '--hosts',
      o.hosts,
      '--duration',
      o.duration,
      '--json',
    ],
    env,
  );
  if (r.status !== 0) throw new Error(`run exited ${r.status}: ${r.stderr}`);
  const id = JSON.parse(r.stdout).id as string;
  await waitFor(
    `${o.runs} runs of ${id} running`,
    async () => {
      const job = await fetch(`${env.FLEETTRACE_SERVER}/api/v1/jobs/${id}`, {
        headers: { authorization: `Bearer ${env.FLEETTRACE_TOKEN}` },
      });
      if (!job.ok) throw new Error(`GET /api/v1/jobs/${id}: ${job.status}`);
      const { runs } = (await job.json()) as { runs?: Array<{ state: string }> };
      return (runs ?? []).filter((x) => x.state === 'running').length === o.runs;
    },
    30_000,
    100,
  );
  return id;
}

/**
 * Polls `fleettrace query SQL --format csv` as `env`'s user until it prints
 * `expected` (rows arrive through the bus and ingest some time after the
 * events); after `timeoutMs` fails as an assertion that shows the last output.
 */
export async function waitForQueryOutput(
  env: Record<string, string>,
  sql: string,
  expected: string,
  timeoutMs = 60_000,
): Promise<void> {
  let last = '';
  await waitFor(
    `\`fleettrace query\` to print ${JSON.stringify(expected)}`,
    () => {
      const q = cli(['query', sql, '--format', 'csv'], env);
      assert.equal(q.status, 0, q.stderr);
      last = q.stdout;
      return last === expected || undefined;
    },
    timeoutMs,
    500,
  ).catch(() => assert.equal(last, expected));
}
