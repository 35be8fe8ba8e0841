// SPDX-License-Identifier: Apache-2.0
/**
 * Dispatch: a job for label role=web reaches exactly the 2 of 3 agents that
 * carry it and finishes on both; one of them is a real agent running the
 * real `syscalls` collector through the JobRunner on this kernel, the other
 * a simulated one. Cancel stops a running job within 2 s. An agent that
 * connects while a job's window is open receives it. Schedules start jobs
 * on a fresh sample each period, with weight 1/p.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import { runAgent, type RunningAgent } from '@fleettrace/agent';
import {
  adminApi,
  agentState,
  bootstrapToken,
  job,
  startSimulated,
  startTestController,
  tempDir,
  testLogger,
  waitFor,
  type Api,
  type Job,
} from './harness';

describe('dispatch to agents', () => {
  let c: RunningController;
  let api: Api;
  const fleets: RunningAgent[] = [];
  before(async () => {
    c = await startTestController();
    api = adminApi(c);
  });
  after(async () => {
    for (const f of fleets) await f.close();
    await c.close();
  });

  const finished = (id: string, timeoutMs = 15_000) =>
    waitFor<Job>(
      `job ${id} to end`,
      async () => {
        const j = await job(api, id);
        return j.state !== 'running' ? j : undefined;
      },
      timeoutMs,
      100,
    );

  test('label role=web reaches the 2 of 3 agents that carry it; the real syscalls collector reports events', async () => {
    const real = await runAgent({
      controller: c.enrollAddress,
      token: await bootstrapToken(api),
      stateDir: tempDir('real-agent'),
      hostname: 'web-real',
      labels: { role: 'web' },
      logger: testLogger('agent'),
      connection: { backoffInitialMs: 50, backoffMaxMs: 500 },
    });
    fleets.push(real);
    fleets.push(await startSimulated(c, api, 1, { hostname: 'web-sim', labels: { role: 'web' } }));
    fleets.push(await startSimulated(c, api, 1, { hostname: 'db-sim', labels: { role: 'db' } }));
    for (const f of fleets)
      await waitFor(
        'agent connected',
        async () => (await agentState(api, f.agents[0]!.agentId)) === 'connected',
      );

    const created = await api.post<Job>('/api/v1/jobs', {
      targets: { labels: { role: 'web' } },
      collectors: [{ name: 'syscalls' }],
      duration: '3s',
      interval: '500ms',
      // The real agent shares this process with the controller and the other
      // agents, and its budget counts the process's CPU: a generous budget
      // keeps their work from being billed to the job (budgets have their own tests).
      limits: { overhead_budget: 0.5 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.runs.map((r) => r.host).sort(), ['web-real', 'web-sim-1']);
    const done = await finished(created.body.id);
    assert.equal(done.state, 'finished');
    for (const r of done.runs) {
      assert.equal(r.state, 'finished', `${r.host}: ${r.state} ${r.reason}`);
      assert.ok(r.events_sent > 0, `${r.host} sent events`);
      assert.ok(r.ack_latency_ms !== null && r.ack_latency_ms >= 0);
    }
    const db = (
      await api.get<{
        agents: Array<{ hostname: string; collectors: string[]; features: string[] }>;
      }>('/api/v1/agents')
    ).body.agents;
    const realFacts = db.find((a) => a.hostname === 'web-real');
    assert.ok(
      realFacts?.collectors.includes('syscalls'),
      'the real agent reports the collectors this kernel can run',
    );
    assert.ok(realFacts?.features.includes('raw_tracepoint'), 'and the probed kernel features');
  });

  test('cancel stops a running job within 2 s', async () => {
    const created = await api.post<Job>('/api/v1/jobs', {
      targets: { hosts: ['web-sim-*', 'db-sim-*'] },
      collectors: [{ name: 'cpu_profile', params: { hz: 49 } }],
      duration: '60s',
      interval: '200ms',
    });
    assert.equal(created.status, 201);
    await waitFor('runs running', async () =>
      (await job(api, created.body.id)).runs.every((r) => r.state === 'running'),
    );
    const cancelledAt = Date.now();
    const res = await api.post<Job>(`/api/v1/jobs/${created.body.id}/cancel`, { reason: 'enough' });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'cancelled');
    const ended = await waitFor(
      'runs cancelled',
      async () => {
        const j = await job(api, created.body.id);
        return j.runs.every((r) => r.state === 'cancelled') ? j : undefined;
      },
      2_000,
      20,
    );
    assert.ok(Date.now() - cancelledAt <= 2_000);
    for (const r of ended.runs) assert.match(r.reason, /cancelled by first admin: enough/);
    // The executors stopped: their counts no longer move.
    const counts = ended.runs.map((r) => r.events_sent);
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(
      (await job(api, created.body.id)).runs.map((r) => r.events_sent),
      counts,
    );
    const audit = (
      await api.get<{ entries: Array<{ action: string; target: { job_id: string } }> }>(
        '/api/v1/audit?action=job.cancel',
      )
    ).body;
    assert.ok(audit.entries.some((e) => e.target.job_id === created.body.id));
  });

  test('an agent that connects while a job is open receives it', async () => {
    const created = await api.post<Job>('/api/v1/jobs', {
      targets: { labels: { role: 'late' } },
      collectors: [{ name: 'syscalls' }],
      duration: '4s',
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.runs.length, 0, 'no host matches yet');
    const late = await startSimulated(c, api, 1, { hostname: 'late', labels: { role: 'late' } });
    fleets.push(late);
    const j = await waitFor('late agent running', async () => {
      const x = await job(api, created.body.id);
      return x.runs.length === 1 && x.runs[0]!.state === 'running' ? x : undefined;
    });
    assert.equal(j.runs[0]!.host, 'late-1');
    assert.equal((await finished(created.body.id)).runs[0]!.state, 'finished');
  });

  test('a schedule runs on a fresh sample each period with weight 1/p', async () => {
    fleets.push(await startSimulated(c, api, 4, { hostname: 'prof', labels: { tier: 'prof' } }));
    await waitFor(
      '4 prof agents',
      async () =>
        (
          await api.get<{ agents: Array<{ labels: Record<string, string>; state: string }> }>(
            '/api/v1/agents?state=connected',
          )
        ).body.agents.filter((a) => a.labels.tier === 'prof').length === 4,
    );
    const s = await api.post<{ id: string; weight: number }>('/api/v1/schedules', {
      name: 'gwp',
      every: '1500ms',
      run_for: '1s',
      sample: 0.5,
      job: {
        targets: { labels: { tier: 'prof' } },
        collectors: [{ name: 'cpu_profile' }],
        interval: '200ms',
      },
    });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.equal(s.body.weight, 2);
    const jobs = await waitFor(
      'three scheduled jobs',
      async () => {
        const list = (await api.get<{ jobs: Job[] }>(`/api/v1/jobs?schedule_id=${s.body.id}`)).body
          .jobs;
        return list.length >= 3 ? list : undefined;
      },
      10_000,
      100,
    );
    const del = await api.delete(`/api/v1/schedules/${s.body.id}`);
    assert.equal(del.status, 200);
    for (const j of jobs) {
      const full = await job(api, j.id);
      assert.equal(full.weight, 2);
      assert.equal(full.runs.length, 2, 'half of the 4 matching hosts');
      for (const r of full.runs) assert.match(r.host, /^prof-/);
    }
  });
});
