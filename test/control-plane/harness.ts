// SPDX-License-Identifier: Apache-2.0
/**
 * Helpers of the control-plane tests: a real controller on loopback (real
 * SQLite, real gRPC over TLS) with fast timings, a REST client, bootstrap
 * tokens, simulated or real agents, and polling with a deadline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  ControllerOptions,
  RunningController,
} from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import { JsonLogger, type LogLevel } from '@fleettrace/common';
import { waitFor as waitForService } from '@fleettrace/local-services';
import { runAgent, type AgentOptions, type RunningAgent } from '@fleettrace/agent';

// gRPC over TLS to 127.0.0.1 draws Node's DEP0123 (an IP address as TLS server name) once per
// process; it says nothing about the code under test.
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0123') process.stderr.write(`${w.name}: ${w.message}\n`);
});

/** Logs of services under test: quiet unless FLEETTRACE_TEST_LOG=debug|info. */
export const testLogger = (service: string): JsonLogger =>
  new JsonLogger((process.env.FLEETTRACE_TEST_LOG as LogLevel | undefined) ?? 'error', { service });

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fleettrace-${prefix}-`));
}

/** A free loopback port (for a controller that must come back on the same ports). */
export { freePort } from '@fleettrace/local-services';

/** Fast timings: heartbeats every 200 ms, lost after 1.5 s, sweeps every 100 ms. */
export const FAST = {
  heartbeatIntervalMs: 200,
  lostAfterMs: 1_500,
  sweepIntervalMs: 100,
  finalStatusGraceMs: 2_000,
};

export async function startTestController(
  opts: Partial<ControllerOptions> = {},
): Promise<RunningController> {
  const { startController } = await import('@fleettrace/controller');
  return startController({
    dataDir: opts.dataDir ?? tempDir('controller'),
    listen: '127.0.0.1:0',
    enrollListen: '127.0.0.1:0',
    controlListen: '127.0.0.1:0',
    logger: testLogger('controller'),
    ...FAST,
    ...opts,
  });
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

/** A REST client for one token. */
export function apiFor(c: { url: string }, token: string | undefined) {
  const call = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<ApiResponse<T>> => {
    const res = await fetch(c.url + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    call,
    get: <T = Record<string, unknown>>(path: string) => call<T>('GET', path),
    post: <T = Record<string, unknown>>(path: string, body: unknown = {}) =>
      call<T>('POST', path, body),
    delete: <T = Record<string, unknown>>(path: string) => call<T>('DELETE', path),
  };
}

export type Api = ReturnType<typeof apiFor>;

/** The admin API of a freshly started controller. */
export function adminApi(c: RunningController): Api {
  if (!c.firstAdminToken) throw new Error('not a first start: no admin token');
  return apiFor(c, c.firstAdminToken);
}

export async function bootstrapToken(api: Api, maxUses = 1, ttl?: string): Promise<string> {
  const r = await api.post<{ token: string }>('/api/v1/tokens', {
    kind: 'bootstrap',
    max_uses: maxUses,
    ...(ttl ? { ttl } : {}),
  });
  if (r.status !== 201) throw new Error(`bootstrap token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token;
}

export async function apiToken(api: Api, role: string): Promise<string> {
  const r = await api.post<{ token: string }>('/api/v1/tokens', {
    kind: 'api',
    role,
    name: `test ${role}`,
  });
  if (r.status !== 201) throw new Error(`api token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token;
}

/** Simulated agents in this process, enrolled with a token that allows `count` uses. */
export async function startSimulated(
  c: RunningController,
  api: Api,
  count: number,
  opts: Partial<AgentOptions> = {},
): Promise<RunningAgent> {
  return runAgent({
    controller: c.enrollAddress,
    token: await bootstrapToken(api, count),
    stateDir: tempDir('agent'),
    simulate: count,
    logger: testLogger('agent'),
    connection: { backoffInitialMs: 50, backoffMaxMs: 500 },
    ...opts,
  });
}

/** waitFor of @fleettrace/local-services with this harness's short defaults (in-process services start fast). */
export function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  return waitForService(what, probe, timeoutMs, everyMs);
}

export interface Run {
  id: string;
  host: string;
  agent_id: string;
  state: string;
  reason: string;
  events_sent: number;
  events_lost: number;
  ack_latency_ms: number | null;
}

export interface Job {
  id: string;
  state: string;
  weight: number;
  schedule_id: string | null;
  runs: Run[];
}

export async function job(api: Api, id: string): Promise<Job> {
  const r = await api.get<Job>(`/api/v1/jobs/${id}`);
  if (r.status !== 200) throw new Error(`job ${id}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function agentState(api: Api, id: string): Promise<string> {
  return (await api.get<{ state: string }>(`/api/v1/agents/${id}`)).body.state;
}

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
