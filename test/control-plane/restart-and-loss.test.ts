// SPDX-License-Identifier: Apache-2.0
/**
 * Faults: a controller restarted mid-job keeps the job (SQLite is the source
 * of truth) and its agents reconnect and finish it; an agent process killed
 * with SIGKILL is marked lost and so are its runs; a second agent on the same
 * state directory is refused.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import type { RunningAgent } from '@fleettrace/agent';
import {
  adminApi,
  agentState,
  apiFor,
  bootstrapToken,
  freePort,
  job,
  startSimulated,
  startTestController,
  tempDir,
  waitFor,
  type Job,
} from './harness';

const CLI = resolve(__dirname, '../../../bin/fleettrace');

describe('faults', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  test('a controller restarted mid-job keeps the job and its agents reconnect and finish it', async () => {
    const dataDir = tempDir('restart');
    const [api1, api2, api3] = await Promise.all([freePort(), freePort(), freePort()]);
    const ports = {
      dataDir,
      listen: `127.0.0.1:${api1}`,
      enrollListen: `127.0.0.1:${api2}`,
      controlListen: `127.0.0.1:${api3}`,
    };
    let c: RunningController = await startTestController(ports);
    const token = c.firstAdminToken as string;
    let api = apiFor(c, token);
    let fleet: RunningAgent | undefined = await startSimulated(c, api, 2, { hostname: 'keep' });
    cleanups.push(() => fleet?.close());
    const ids = fleet.agents.map((a) => a.agentId);
    await waitFor('agents connected', async () =>
      (await Promise.all(ids.map((id) => agentState(api, id)))).every((s) => s === 'connected'),
    );
    const created = await api.post<Job>('/api/v1/jobs', {
      targets: { hosts: ['keep-*'] },
      collectors: [{ name: 'syscalls' }],
      duration: '6s',
      interval: '200ms',
    });
    assert.equal(created.status, 201);
    await waitFor('runs running', async () =>
      (await job(api, created.body.id)).runs.every((r) => r.state === 'running'),
    );

    await c.close();
    await new Promise((r) => setTimeout(r, 500));
    c = await startTestController(ports);
    cleanups.push(() => c.close());
    assert.equal(c.firstAdminToken, undefined, 'not a first start');
    assert.equal(readFileSync(c.adminTokenFile, 'utf8').trim(), token);
    api = apiFor(c, token);

    const kept = await job(api, created.body.id);
    assert.equal(kept.state, 'running', 'the job survived the restart');
    assert.equal(kept.runs.length, 2);
    await waitFor(
      'agents reconnected',
      async () =>
        (await Promise.all(ids.map((id) => agentState(api, id)))).every((s) => s === 'connected'),
      10_000,
    );
    const done = await waitFor(
      'job finished',
      async () => {
        const j = await job(api, created.body.id);
        return j.state === 'finished' ? j : undefined;
      },
      15_000,
      100,
    );
    for (const r of done.runs) {
      assert.equal(r.state, 'finished', `${r.host}: ${r.reason}`);
      assert.ok(r.events_sent > 0);
    }
    await fleet.close();
    fleet = undefined;
  });

  test('an agent killed with SIGKILL is marked lost, with its runs; a second agent on its state directory is refused', async () => {
    const c = await startTestController();
    cleanups.push(() => c.close());
    const api = adminApi(c);
    const state = tempDir('victim');
    const bootstrap = await bootstrapToken(api);
    const child: ChildProcess = spawn(
      CLI,
      [
        'agent',
        '--controller',
        c.enrollAddress,
        '--state',
        state,
        '--simulate',
        '1',
        '--hostname',
        'victim',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        // The token from the environment, as the docs say: on argv it draws a plain-text warning.
        env: {
          ...process.env,
          FLEETTRACE_LOG_LEVEL: 'info',
          FLEETTRACE_BOOTSTRAP_TOKEN: bootstrap,
        },
      },
    );
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    const agent = await waitFor(
      'victim connected',
      async () => {
        const list = (
          await api.get<{ agents: Array<{ id: string; hostname: string; state: string }> }>(
            '/api/v1/agents',
          )
        ).body.agents;
        return list.find((a) => a.hostname === 'victim-1' && a.state === 'connected');
      },
      15_000,
    );

    const second = spawnSync(
      CLI,
      ['agent', '--controller', c.enrollAddress, '--state', state, '--simulate', '1'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(second.status, 1);
    assert.match(
      second.stderr,
      new RegExp(
        `another fleettrace agent \\(pid ${child.pid}\\) is running with state directory ${state}`,
      ),
    );

    const created = await api.post<Job>('/api/v1/jobs', {
      targets: { hosts: ['victim-1'] },
      collectors: [{ name: 'syscalls' }],
      duration: '60s',
    });
    await waitFor(
      'run running',
      async () => (await job(api, created.body.id)).runs[0]?.state === 'running',
    );
    child.kill('SIGKILL');
    await waitFor('agent lost', async () => (await agentState(api, agent.id)) === 'lost', 10_000);
    const lostRun = (await job(api, created.body.id)).runs[0]!;
    assert.equal(lostRun.state, 'lost');
    assert.match(lostRun.reason, /agent lost: no heartbeat/);
    await api.post(`/api/v1/jobs/${created.body.id}/cancel`, { reason: 'cleanup' });
    // Services log JSON lines only.
    for (const line of stderr.split('\n').filter(Boolean))
      assert.doesNotThrow(() => JSON.parse(line), line);
  });
});
