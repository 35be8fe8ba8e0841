// SPDX-License-Identifier: Apache-2.0
/**
 * The REST API as a client sees it: tokens and roles (401 without a token,
 * 403 for a role too low), malformed job specs (each a 400 naming the
 * field), the audit log, the OpenAPI document, metrics and health.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import type { ControlEvent } from '@fleettrace/proto';
import {
  adminApi,
  apiFor,
  apiToken,
  startSimulated,
  startTestController,
  waitFor,
  type Api,
} from './harness';

const GOOD = { targets: { hosts: ['web-*'] }, collectors: [{ name: 'syscalls' }], duration: '10s' };

describe('REST API', () => {
  let c: RunningController;
  let admin: Api;
  const events: ControlEvent[] = [];
  before(async () => {
    const { InMemoryControlEventPublisher } = await import('@fleettrace/controller');
    const publisher = new InMemoryControlEventPublisher();
    publisher.subscribe((e) => events.push(e));
    c = await startTestController({ publisher });
    admin = adminApi(c);
  });
  after(() => c.close());

  test('no token is 401, a bad one too (metrics too); health, readiness and OpenAPI need none', async () => {
    const anon = apiFor(c, undefined);
    for (const path of ['/api/v1/jobs', '/api/v1/agents', '/api/v1/audit', '/api/v1/tokens']) {
      const r = await anon.get<{ error: string }>(path);
      assert.equal(r.status, 401, path);
      assert.match(r.body.error, /authorization: missing bearer token/);
    }
    assert.equal((await anon.post('/api/v1/jobs', GOOD)).status, 401);
    const bad = await apiFor(c, 'ftapi.000000000000.' + 'x'.repeat(43)).get<{ error: string }>(
      '/api/v1/jobs',
    );
    assert.equal(bad.status, 401);
    assert.match(bad.body.error, /unknown, revoked or expired token/);
    assert.equal((await anon.get('/healthz')).status, 200);
    const ready = await anon.get<{ status: string; control: string }>('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.control, c.controlAddress);
    assert.equal((await fetch(`${c.url}/metrics`)).status, 401, 'metrics need a token');
    const metrics = await (
      await fetch(`${c.url}/metrics`, { headers: { authorization: `Bearer ${c.firstAdminToken}` } })
    ).text();
    for (const m of [
      'fleettrace_agents',
      'fleettrace_jobs',
      'fleettrace_runs',
      'fleettrace_http_requests_total',
      'fleettrace_grpc_agent_streams',
    ])
      assert.match(metrics, new RegExp(`^# TYPE ${m} `, 'm'), m);
    assert.match(
      metrics,
      /fleettrace_http_requests_total\{method="GET",route="\/api\/v1\/jobs",status="401"\} [1-9]/,
    );
  });

  test('a viewer reads but gets 403 creating a job; an operator gets 403 for sensitive collectors', async () => {
    const viewer = apiFor(c, await apiToken(admin, 'viewer'));
    assert.equal((await viewer.get('/api/v1/jobs')).status, 200);
    const denied = await viewer.post<{ error: string }>('/api/v1/jobs', GOOD);
    assert.equal(denied.status, 403);
    assert.match(denied.body.error, /needs the operator role; token test viewer has viewer/);
    assert.equal((await viewer.get('/api/v1/audit')).status, 403);
    assert.equal((await viewer.post('/api/v1/tokens', { kind: 'api', role: 'admin' })).status, 403);

    const operator = apiFor(c, await apiToken(admin, 'operator'));
    assert.equal((await operator.post('/api/v1/jobs', GOOD)).status, 201);
    for (const [name, field] of [
      ['syscall_trace', 'collectors[1].name'],
      ['proc', 'collectors[1].name'],
    ] as const) {
      const r = await operator.post<{ error: string }>('/api/v1/jobs', {
        ...GOOD,
        collectors: [{ name: 'syscalls' }, { name }],
        filters: { comm: 'php-fpm' },
      });
      assert.equal(r.status, 403, name);
      assert.ok(
        r.body.error.startsWith(`${field}: collector ${name} sees sensitive data`),
        r.body.error,
      );
    }
    assert.equal(
      (await admin.post('/api/v1/jobs', { ...GOOD, collectors: [{ name: 'proc' }] })).status,
      201,
    );
  });

  test('malformed job specs are 400s that name the field', async () => {
    const cases: Array<[string, unknown, string, RegExp]> = [
      [
        'unknown collector',
        { ...GOOD, collectors: [{ name: 'nope' }] },
        'collectors[0].name',
        /unknown collector "nope"; known: .*syscalls/,
      ],
      ['negative duration', { ...GOOD, duration: '-5s' }, 'duration', /must be a duration/],
      ['bad glob', { ...GOOD, targets: { hosts: ['web-[1-'] } }, 'targets.hosts[0]', /unclosed \[/],
      [
        'hz out of range',
        {
          ...GOOD,
          collectors: [{ name: 'syscalls' }, { name: 'cpu_profile', params: { hz: 5000 } }],
        },
        'collectors[1].params.hz',
        /must be between 1 and 1000/,
      ],
      ['unknown field', { ...GOOD, durration: '10s' }, 'durration', /unknown field/],
      [
        'empty targets',
        { ...GOOD, targets: {} },
        'targets',
        /must name at least one host or label/,
      ],
      [
        'sample out of range',
        { ...GOOD, targets: { hosts: ['*'], sample: 1.5 } },
        'targets.sample',
        /greater than 0 and at most 1/,
      ],
      [
        'bad label',
        { ...GOOD, targets: { labels: { 'bad key!': 'x' } } },
        'targets.labels.bad key!',
        /label key/,
      ],
      [
        'uid not a number',
        { ...GOOD, filters: { uid: 'abc' } },
        'filters.uid',
        /must be an integer/,
      ],
      [
        'comm too long',
        { ...GOOD, filters: { comm: 'a-very-long-command-name' } },
        'filters.comm',
        /at most 15 bytes/,
      ],
      [
        'unknown collector parameter',
        { ...GOOD, collectors: [{ name: 'syscalls', params: { speed: 1 } }] },
        'collectors[0].params.speed',
        /unknown parameter/,
      ],
      [
        'budget out of range',
        { ...GOOD, limits: { overhead_budget: 2 } },
        'limits.overhead_budget',
        /at most 1/,
      ],
      ['no collectors', { ...GOOD, collectors: [] }, 'collectors', /non-empty array/],
      ['unknown filter', { ...GOOD, filters: { gid: 1 } }, 'filters.gid', /unknown field/],
      ['not an object', [1, 2], 'body', /must be a JSON object/],
    ];
    for (const [what, spec, field, reason] of cases) {
      const r = await admin.post<{ error: string; field: string; status: number }>(
        '/api/v1/jobs',
        spec,
      );
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, field, what);
      assert.ok(r.body.error.startsWith(`${field}: `), `${what}: ${r.body.error}`);
      assert.match(r.body.error, reason, what);
    }
    const notJson = await fetch(`${c.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.firstAdminToken}`, 'content-type': 'application/json' },
      body: '{"targets": ',
    });
    assert.equal(notJson.status, 400);
    assert.match(((await notJson.json()) as { error: string }).error, /^body: not valid JSON/);
  });

  test('the audit log records jobs with who, what, targets and when; tokens are managed by admins', async () => {
    const { body } = await admin.get<{
      entries: Array<{
        action: string;
        actor: string;
        role: string;
        ts: string;
        target: { job_id?: string; hosts?: string[] };
        details: { collectors?: unknown };
      }>;
    }>('/api/v1/audit?action=job.create');
    assert.ok(body.entries.length >= 2);
    const e = body.entries.find((x) => x.role === 'operator');
    assert.ok(e, 'the operator job is audited');
    assert.match(e.actor, /^test operator \([0-9a-f]{12}\)$/);
    assert.match(e.target.job_id ?? '', /^job_/);
    assert.ok(Array.isArray(e.target.hosts));
    assert.deepEqual(e.details.collectors, [{ name: 'syscalls', params: {} }]);
    assert.ok(Date.now() - Date.parse(e.ts) < 60_000);

    const list = (
      await admin.get<{ tokens: Array<{ id: string; kind: string; role?: string }> }>(
        '/api/v1/tokens',
      )
    ).body.tokens;
    const firstAdmin = list.find((t) => t.kind === 'api' && t.role === 'admin');
    const refused = await admin.delete<{ error: string }>(`/api/v1/tokens/${firstAdmin?.id}`);
    assert.equal(refused.status, 409);
    assert.match(refused.body.error, /last admin token/);
    const viewerToken = await apiToken(admin, 'viewer');
    const id = viewerToken.split('.')[1];
    assert.equal((await admin.delete(`/api/v1/tokens/${id}`)).status, 200);
    assert.equal(
      (await apiFor(c, viewerToken).get('/api/v1/jobs')).status,
      401,
      'a revoked token no longer works',
    );
  });

  test('the OpenAPI document describes every route the controller serves', async () => {
    const doc = (
      await apiFor(c, undefined).get<{ paths: Record<string, Record<string, unknown>> }>(
        '/api/v1/openapi.json',
      )
    ).body;
    const described = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    // Express keeps the registered routes on its router.
    const express = c.nest.getHttpAdapter().getInstance() as {
      router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> };
    };
    const served = express.router.stack
      .filter((l) => l.route)
      .flatMap((l) =>
        Object.keys(l.route!.methods).map(
          (m) => `${m.toUpperCase()} ${l.route!.path.replace(/:(\w+)/g, '{$1}')}`,
        ),
      );
    assert.ok(served.length >= 15, `found ${served.length} routes`);
    for (const r of served) assert.ok(described.has(r), `${r} is not in the OpenAPI document`);
    for (const d of described) assert.ok(served.includes(d), `${d} is documented but not served`);
  });

  test('changes of jobs, runs and agents are published as ControlEvents', async () => {
    const fleet = await startSimulated(c, admin, 1, { hostname: 'evt' });
    try {
      const created = await admin.post<{ id: string }>('/api/v1/jobs', {
        ...GOOD,
        targets: { hosts: ['evt-*'] },
        duration: '1s',
      });
      assert.equal(created.status, 201);
      await waitFor('run finished event', () =>
        events.some(
          (e) =>
            e.body?.$case === 'run' &&
            e.body.value.jobId === created.body.id &&
            e.body.value.state === 'finished',
        ),
      );
      const agent = events.find(
        (e) =>
          e.body?.$case === 'agent' &&
          e.body.value.host === 'evt-1' &&
          e.body.value.state === 'connected',
      );
      assert.ok(agent, 'agent connected event');
      const job = events.find(
        (e) => e.body?.$case === 'job' && e.body.value.jobId === created.body.id,
      );
      assert.ok(
        job?.body?.$case === 'job' && JSON.parse(job.body.value.specJson).duration_ms === 1000,
      );
      assert.ok(events.every((e) => e.unixMs > 0));
      // Counter-only reports are published at most every 30 s, but the last
      // event of a finished run carries its final figures.
      const shown = await admin.get<{ runs: Array<{ events_sent: number; state: string }> }>(
        `/api/v1/jobs/${created.body.id}`,
      );
      const last = events
        .filter((e) => e.body?.$case === 'run' && e.body.value.jobId === created.body.id)
        .at(-1);
      assert.ok(last?.body?.$case === 'run');
      assert.equal(last.body.value.state, 'finished');
      assert.equal(last.body.value.eventsSent, shown.body.runs[0]?.events_sent);
    } finally {
      await fleet.close();
    }
  });
});
