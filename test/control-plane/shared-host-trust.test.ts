// SPDX-License-Identifier: Apache-2.0
/**
 * Trust on a shared host (issue 9), against a real controller with a real
 * embedded event store: refused requests are in the audit log with their
 * reason and source (aggregated, never with a secret), queries with their
 * outcome, every action with its source; a schedule whose creator's token is
 * revoked pauses instead of firing on; job specs that would fail on every
 * host, or take more of it than the caller's role allows, are 400s naming
 * the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import { migrate } from '@fleettrace/ingest';
import { cannedQueries, EmbeddedStore, QueryService } from '@fleettrace/store';
import {
  adminApi,
  apiFor,
  apiToken,
  cleanup,
  startSimulated,
  startTestController,
  tempDir,
  waitFor,
  type Api,
} from './harness';

interface Entry {
  id: number;
  action: string;
  actor: string;
  role: string;
  outcome: string;
  count: number;
  source: string;
  target: { request?: string; job_id?: string; id?: string; schedule_id?: string };
  details: {
    reason?: string;
    requests?: string[];
    token_ids?: string[];
    rows?: number;
    duration_ms?: number;
    error?: string;
    schedule_id?: string | null;
  };
}

const GOOD = { targets: { hosts: ['web-*'] }, collectors: [{ name: 'syscalls' }], duration: '10s' };

describe('trust on a shared host', () => {
  let c: RunningController;
  let admin: Api;
  let store: EmbeddedStore;
  const storeDir = tempDir('trust-store');

  const audit = async (query: string): Promise<Entry[]> => {
    const r = await admin.get<{ entries: Entry[] }>(`/api/v1/audit?${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.entries;
  };

  before(async () => {
    store = new EmbeddedStore({ dataDir: storeDir });
    await migrate(store);
    c = await startTestController({
      query: { backend: new QueryService(store), canned: cannedQueries },
    });
    admin = adminApi(c);
  });
  after(async () => {
    await c.close();
    await store.close();
    cleanup(storeDir);
  });

  test('refused requests are audited with reason, token id (never the secret), request and source, aggregated', async () => {
    const anon = apiFor(c, undefined);
    for (const path of ['/api/v1/jobs', '/api/v1/jobs', '/api/v1/agents?state=lost'])
      assert.equal((await anon.get(path)).status, 401);
    const viewerToken = await apiToken(admin, 'viewer');
    const viewerId = viewerToken.split('.')[1] as string;
    const guessed = `ftapi.${viewerId}.${'G'.repeat(43)}`;
    assert.equal((await apiFor(c, guessed).get('/api/v1/jobs')).status, 401);
    const viewer = apiFor(c, viewerToken);
    assert.equal((await viewer.post('/api/v1/jobs', GOOD)).status, 403);
    const operatorToken = await apiToken(admin, 'operator');
    const operator = apiFor(c, operatorToken);
    const sensitive = await operator.post('/api/v1/jobs', {
      ...GOOD,
      collectors: [{ name: 'proc' }],
    });
    assert.equal(sensitive.status, 403, 'a service-level refusal');
    const revokedToken = await apiToken(admin, 'viewer');
    const revokedId = revokedToken.split('.')[1] as string;
    assert.equal((await admin.delete(`/api/v1/tokens/${revokedId}`)).status, 200);
    assert.equal((await apiFor(c, revokedToken).get('/api/v1/jobs')).status, 401);

    const denied = await audit('outcome=denied');
    assert.ok(denied.every((e) => e.action === 'auth.denied'));
    const byReason = (reason: string) => denied.filter((e) => e.details.reason === reason);

    // One row per (source, reason) and minute; two if the test straddled a minute.
    const sum = (rows: Entry[]) => rows.reduce((n, e) => n + e.count, 0);
    const missing = byReason('missing token');
    assert.ok(missing.length >= 1 && missing.length <= 2, `${missing.length} rows`);
    assert.equal(sum(missing), 3);
    const m = missing.at(-1) as Entry;
    assert.equal(m.actor, 'anonymous');
    assert.match(m.source, /127\.0\.0\.1/);
    assert.equal(m.target.request, 'GET /api/v1/jobs');
    assert.deepEqual(
      [...new Set(missing.flatMap((e) => e.details.requests ?? []))].sort(),
      ['GET /api/v1/agents', 'GET /api/v1/jobs'],
      'requests without their query strings',
    );

    const wrong = byReason('wrong secret')[0];
    assert.ok(wrong, 'a guessed secret for a real token id');
    assert.deepEqual(wrong.details.token_ids, [viewerId]);
    assert.equal(wrong.actor, `test viewer (${viewerId})`);

    // The guard's refusal and the service's share the (source, reason) row of the minute.
    const low = byReason('role too low');
    assert.equal(sum(low), 2);
    assert.ok(low.every((e) => e.target.request === 'POST /api/v1/jobs'));
    assert.deepEqual(
      low.flatMap((e) => e.details.token_ids).sort(),
      [viewerId, operatorToken.split('.')[1]].sort(),
    );
    assert.deepEqual(byReason('revoked token')[0]?.details.token_ids, [revokedId]);

    const everything = JSON.stringify(await audit('limit=10000'));
    for (const secret of [guessed, viewerToken, operatorToken, revokedToken])
      assert.ok(!everything.includes(secret.split('.')[2] as string), 'no secret in the audit');

    // The audit filters: since as a duration, action, and a viewer may not read it.
    assert.ok((await audit('since=1h&action=auth.denied')).length >= 4);
    const bad = await admin.get<{ error: string }>('/api/v1/audit?outcome=maybe');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /^outcome: must be one of ok, denied, refused, error, pending/);
    assert.equal((await viewer.get('/api/v1/audit')).status, 403);
  });

  test('queries are audited with their outcome: ok with rows and duration, refused with the reason, error', async () => {
    const ok = await admin.post<{ rows: unknown[] }>('/api/v1/query', {
      sql: 'SELECT number FROM numbers(3)',
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const refused = await admin.post('/api/v1/query', {
      sql: 'SELECT 1; DROP TABLE fleettrace.proc',
    });
    assert.equal(refused.status, 400);
    const failed = await admin.post('/api/v1/query', {
      sql: 'SELECT no_such_column FROM fleettrace.proc',
    });
    assert.equal(failed.status, 422);

    const queries = await audit('action=query');
    const [e, r, o] = queries;
    assert.ok(o && r && e);
    assert.equal(o.outcome, 'ok');
    assert.equal(o.details.rows, 3);
    assert.equal(typeof o.details.duration_ms, 'number');
    assert.match(o.source, /127\.0\.0\.1/);
    assert.equal(r.outcome, 'refused');
    assert.match(r.details.reason ?? '', /\S/, 'the validator says why');
    assert.equal(e.outcome, 'error');
    assert.match(e.details.error ?? '', /no_such_column/);
    assert.deepEqual(
      (await audit('action=query&outcome=refused')).map((x) => x.id),
      [r.id],
    );
  });

  test('every action carries its source: HTTP client, gRPC peer, schedule', async () => {
    const fleet = await startSimulated(c, admin, 1, { hostname: 'src' });
    try {
      const job = await admin.post<{ id: string }>('/api/v1/jobs', {
        ...GOOD,
        targets: { hosts: ['src-*'] },
      });
      assert.equal(job.status, 201);
      assert.equal(
        (await admin.post(`/api/v1/jobs/${job.body.id}/cancel`, { reason: 'test' })).status,
        200,
      );
      for (const action of ['token.create', 'token.revoke', 'job.create', 'job.cancel'])
        assert.match((await audit(`action=${action}&limit=1`))[0]?.source ?? '', /127\.0\.0\.1/);
      const enroll = await waitFor('the enrollment entry', async () =>
        (await audit('action=agent.enroll')).find((x) => x.source !== ''),
      );
      assert.match(enroll.source, /^127\.0\.0\.1:\d+$/, 'the gRPC peer');
    } finally {
      await fleet.close();
    }
  });

  test("a schedule pauses, audited, when its creator's token is revoked", async () => {
    const token = await apiToken(admin, 'operator');
    const operator = apiFor(c, token);
    const created = await operator.post<{ id: string; state: string }>('/api/v1/schedules', {
      name: 'every second',
      every: '1s',
      run_for: '1s',
      job: { targets: { hosts: ['*'] }, collectors: [{ name: 'syscalls' }] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.state, 'active');
    const id = created.body.id;
    const jobs = async () =>
      (await admin.get<{ jobs: unknown[] }>(`/api/v1/jobs?schedule_id=${id}`)).body.jobs.length;
    await waitFor('a second period', async () => (await jobs()) >= 2);
    const fired = (await audit('action=job.create')).find((x) => x.details.schedule_id === id);
    assert.equal(fired?.source, `schedule:${id}`);

    assert.equal((await admin.delete(`/api/v1/tokens/${token.split('.')[1]}`)).status, 200);
    const paused = await waitFor('the schedule paused', async () => {
      const s = (
        await admin.get<{ state: string; paused_reason: string }>(`/api/v1/schedules/${id}`)
      ).body;
      return s.state === 'paused' ? s : undefined;
    });
    assert.match(paused.paused_reason, /token test operator \([0-9a-f]{12}\) was revoked at /);
    const listed = (
      await admin.get<{ schedules: Array<{ id: string; state: string }> }>('/api/v1/schedules')
    ).body.schedules.find((s) => s.id === id);
    assert.equal(listed?.state, 'paused');
    const entry = (await audit('action=schedule.pause')).find((x) => x.target.schedule_id === id);
    assert.ok(entry, 'the pause is audited');
    assert.equal(entry.source, `schedule:${id}`);
    assert.match(entry.details.reason ?? '', /was revoked/);
    const after = await jobs();
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(await jobs(), after, 'no job after the pause');
  });

  test('job specs that would fail on every host or overreach are 400s naming the field', async () => {
    const operator = apiFor(c, await apiToken(admin, 'operator'));
    const cases: Array<[string, Api, string, unknown, string, RegExp]> = [
      [
        'syscall_trace without a pid or comm',
        admin,
        '/api/v1/jobs',
        { ...GOOD, collectors: [{ name: 'syscall_trace' }] },
        'filters',
        /collector syscall_trace \(collectors\[0\]\) needs a pid or comm filter/,
      ],
      [
        'pid as a string',
        admin,
        '/api/v1/jobs',
        { ...GOOD, filters: { pid: '1' } },
        'filters.pid',
        /must be an integer \(a JSON number\), got "1"/,
      ],
      [
        'pid above PID_MAX_LIMIT',
        admin,
        '/api/v1/jobs',
        { ...GOOD, filters: { pid: 4_194_305 } },
        'filters.pid',
        /between 1 and 4194304/,
      ],
      [
        'NUL in comm',
        admin,
        '/api/v1/jobs',
        { ...GOOD, filters: { comm: 'php\u0000fpm' } },
        'filters.comm',
        /NUL or control characters/,
      ],
      [
        'escape in comm',
        admin,
        '/api/v1/jobs',
        { ...GOOD, filters: { comm: '\u001b[2J' } },
        'filters.comm',
        /NUL or control characters/,
      ],
      [
        "an operator's 100% budget",
        operator,
        '/api/v1/jobs',
        { ...GOOD, limits: { overhead_budget: 1 } },
        'limits.overhead_budget',
        /at most 0\.05 \(5% of host CPU\) for the operator role; only admins may set up to 1/,
      ],
      [
        "an operator's schedule with a 10% budget",
        operator,
        '/api/v1/schedules',
        {
          every: '1m',
          run_for: '10s',
          job: { ...GOOD, duration: undefined, limits: { overhead_budget: 0.1 } },
        },
        'job.limits.overhead_budget',
        /at most 0\.05/,
      ],
      [
        'a fractional event limit',
        admin,
        '/api/v1/jobs',
        { ...GOOD, limits: { max_events_per_second: 2.5 } },
        'limits.max_events_per_second',
        /integer between 0 and 100000000 \(0 = no limit\)/,
      ],
    ];
    for (const [what, api, path, body, field, reason] of cases) {
      const r = await api.post<{ error: string; field: string }>(path, body);
      assert.equal(r.status, 400, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, field, what);
      assert.ok(r.body.error.startsWith(`${field}: `), `${what}: ${r.body.error}`);
      assert.match(r.body.error, reason, what);
    }
    const allowed = await admin.post('/api/v1/jobs', {
      ...GOOD,
      collectors: [{ name: 'syscall_trace' }],
      filters: { comm: 'php-fpm', pid: 1 },
      limits: { overhead_budget: 0.5, max_events_per_second: 1000 },
    });
    assert.equal(allowed.status, 201, 'an admin may, with a filter');
    assert.equal(
      (await operator.post('/api/v1/jobs', { ...GOOD, limits: { overhead_budget: 0.05 } })).status,
      201,
    );

    const doc = (
      await apiFor(c, undefined).get<{
        components: {
          schemas: {
            JobSpec: { properties: { filters: { properties: Record<string, unknown> } } };
          };
        };
      }>('/api/v1/openapi.json')
    ).body;
    const filters = doc.components.schemas.JobSpec.properties.filters.properties;
    assert.deepEqual(filters.pid, {
      type: 'integer',
      minimum: 1,
      maximum: 4_194_304,
      description: 'a JSON number',
    });
  });
});
