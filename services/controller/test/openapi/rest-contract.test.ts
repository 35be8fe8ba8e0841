// SPDX-License-Identifier: Apache-2.0
/**
 * The REST contract, checked from the document a client reads: the OpenAPI
 * document the controller serves is valid OpenAPI 3.1, and for every route
 * and every field of its request (body and query string) a bad value is
 * generated from the document's own schema: a wrong type, one past each
 * bound, a missing required field, an unknown field where the schema closes
 * the object. Each is sent to a real controller, which must answer 400
 * naming that field, and checked with ajv against the document, which must
 * refuse it too. A bound the server checks and the document leaves out, or
 * the other way round, fails here.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { JsonLogger, parseDuration } from '@fleettrace/common';
import { startController, type RunningController } from '../../src/controller-app.js';

type Json = Record<string, unknown>;
type Schema = Json;
type Path = Array<string | number>;

/** A request every schema accepts, with every optional field set, so that each gets its bad values. */
interface Example {
  params?: Record<string, string>;
  query?: Json;
  /** one per branch of an anyOf body */
  bodies?: Json[];
}

const JOB = {
  targets: { hosts: ['web-*'], labels: { role: 'web' }, sample: 0.5 },
  collectors: [{ name: 'syscalls', params: { max_entries: 4096 } }],
  filters: { pid: 42, uid: 1000, comm: 'php-fpm', cgroup: '/site1' },
  duration: '10s',
  interval: '1s',
  limits: { overhead_budget: 0.01, max_events_per_second: 1000 },
};
const { duration: _duration, ...TEMPLATE } = JOB;
TEMPLATE.targets = { hosts: ['web-*'], labels: { role: 'web' } } as typeof JOB.targets;

const EXAMPLES: Record<string, Example> = {
  'GET /api/v1/agents': { query: { state: 'connected' } },
  'POST /api/v1/agents/{id}/revoke': { params: { id: 'agt_none' }, bodies: [{ reason: 'test' }] },
  'POST /api/v1/jobs': { bodies: [JOB] },
  'GET /api/v1/jobs': { query: { state: 'running', limit: 5, schedule_id: 'sch_none' } },
  'POST /api/v1/jobs/{id}/cancel': { params: { id: 'job_none' }, bodies: [{ reason: 'test' }] },
  'POST /api/v1/schedules': {
    bodies: [{ name: 'nightly', every: '10m', run_for: '1m', sample: 0.5, job: TEMPLATE }],
  },
  'POST /api/v1/tokens': {
    bodies: [
      { kind: 'api', name: 'ci', role: 'viewer', ttl: '720h' },
      { kind: 'bootstrap', name: 'rack 4', max_uses: 3, ttl: '1h' },
    ],
  },
  'POST /api/v1/query': { bodies: [{ sql: 'SELECT 1' }] },
  'GET /api/v1/top': { query: { by: 'comm', since: '10m', hosts: ['web-1', 'web-2'] } },
  'GET /api/v1/crashes': { query: { since: '1h', hosts: ['web-1'] } },
  'GET /api/v1/profiles': {
    query: {
      collector: 'offcpu',
      value: 'blocks',
      state: 'uninterruptible',
      job_id: 'job_1',
      hosts: ['web-1', 'web-2'],
      uid: 1001,
      pid: 42,
      comm: 'php-fpm',
      since: '20m',
      until: '10m',
      format: 'svg',
      'base.since': '40m',
      'base.until': '30m',
      'base.job_id': 'job_0',
      'base.hosts': ['web-3'],
      'base.uid': 1000,
      'base.pid': 41,
      'base.comm': 'php-fpm',
      'base.state': 'interruptible',
      normalize: 'true',
    },
  },
  'GET /api/v1/audit': {
    query: { limit: 10, action: 'job.create', outcome: 'ok', since: '1h' },
  },
};

/** A bad request: the value at `path`, or the field removed (`remove`). */
interface BadCase {
  what: string;
  path: Path;
  value?: unknown;
  remove?: true;
  /** the field the server must name (path, or path + an unknown key) */
  field: Path;
}

interface Answer {
  status: number;
  body: Json;
}

type Generator = (
  resolve: (s: Schema) => Schema,
  schema: Schema,
  path: Path,
  good: unknown,
  query: boolean,
) => BadCase[];

/**
 * Values exactly at each bound of a schema (minimum, maximum, length,
 * duration range), which the server must take for that field.
 */
function edgeCases(
  resolve: (s: Schema) => Schema,
  raw: Schema,
  path: Path,
  good: unknown,
  query: boolean,
): BadCase[] {
  const s = resolve(raw);
  const out: BadCase[] = [];
  const at = (what: string, value: unknown) => out.push({ what, path, value, field: path });
  const fits = (text: string) =>
    typeof s.pattern !== 'string' || new RegExp(s.pattern, 'u').test(text);
  if (typeof s.minimum === 'number') at('at minimum', s.minimum);
  if (typeof s.maximum === 'number') at('at maximum', s.maximum);
  for (const n of [s.minLength, s.maxLength])
    if (typeof n === 'number' && n > 0 && fits('a'.repeat(n))) at(`${n} long`, 'a'.repeat(n));
  if (typeof s['x-minimum-ms'] === 'number') at('shortest', `${s['x-minimum-ms']}ms`);
  if (typeof s['x-maximum-ms'] === 'number') at('longest', `${s['x-maximum-ms']}ms`);
  if (s.type === 'array' && Array.isArray(good))
    out.push(...edgeCases(resolve, s.items as Schema, [...path, 0], good[0], query));
  if (s.type === 'object') {
    const g = (good ?? {}) as Json;
    for (const [k, p] of Object.entries((s.properties ?? {}) as Record<string, Schema>))
      out.push(...edgeCases(resolve, p, [...path, k], g[k], query));
  }
  return out;
}

/** Strings of which at least one breaks any pattern of the document. */
const PATTERN_BREAKERS = ['a b!', '', '\u0001', 'x', '!'];

/**
 * The bad values of one schema at `path`, and recursively of its fields.
 * `good` is the example's value there; `query` keeps to values a query
 * string can carry.
 */
function badCases(
  resolve: (s: Schema) => Schema,
  raw: Schema,
  path: Path,
  good: unknown,
  query: boolean,
): BadCase[] {
  const s = resolve(raw);
  const out: BadCase[] = [];
  const at = (what: string, value: unknown) => out.push({ what, path, value, field: path });
  const type = s.type as string | string[] | undefined;
  if (typeof type === 'string' && !(query && type !== 'integer')) {
    at(`not ${type}`, type === 'string' ? 42 : type === 'integer' || type === 'number' ? 'x' : 'x');
  } else if (Array.isArray(type) && !query) {
    at(`not ${type.join('|')}`, type.includes('object') ? null : {});
  }
  if (s.const !== undefined) at('another constant', `not-${String(s.const)}`);
  if (Array.isArray(s.enum)) at('not in the enum', 'not-a-member');
  if (type === 'integer') at('not an integer', ((s.minimum as number | undefined) ?? 0) + 0.5);
  if (typeof s.minimum === 'number') at('below minimum', s.minimum - 1);
  if (typeof s.exclusiveMinimum === 'number') at('at exclusiveMinimum', s.exclusiveMinimum);
  if (typeof s.maximum === 'number') at('above maximum', s.maximum + 1);
  if (typeof s.minLength === 'number' && s.minLength > 0)
    at('below minLength', 'a'.repeat(s.minLength - 1));
  if (typeof s.maxLength === 'number') at('above maxLength', 'a'.repeat(s.maxLength + 1));
  if (typeof s.pattern === 'string') {
    const re = new RegExp(s.pattern, 'u');
    const breaker = PATTERN_BREAKERS.find((b) => !re.test(b));
    assert.ok(breaker !== undefined, `no breaker for ${s.pattern}`);
    at('not matching the pattern', breaker);
  }
  if (typeof s['x-minimum-ms'] === 'number') at('too short', `${s['x-minimum-ms'] - 1}ms`);
  if (typeof s['x-maximum-ms'] === 'number') at('too long', `${s['x-maximum-ms'] + 1}ms`);
  if (type === 'array') {
    const items = s.items as Schema;
    const first = Array.isArray(good) ? good[0] : undefined;
    if (typeof s.minItems === 'number' && s.minItems > 0) at('below minItems', []);
    if (typeof s.maxItems === 'number' && first !== undefined)
      at(
        'above maxItems',
        Array.from({ length: s.maxItems + 1 }, () => first),
      );
    out.push(...badCases(resolve, items, [...path, 0], first, query));
  }
  if (type === 'object') {
    const g = (good ?? {}) as Json;
    const properties = (s.properties ?? {}) as Record<string, Schema>;
    // Without its constant a branch of an anyOf is another branch, with another required field.
    for (const k of (s.required ?? []) as string[])
      if (resolve(properties[k] as Schema).const === undefined)
        out.push({ what: 'missing', path: [...path, k], remove: true, field: [...path, k] });
    if (s.additionalProperties === false)
      out.push({
        what: 'unknown field',
        path: [...path, 'unknown_field'],
        value: 1,
        field: [...path, 'unknown_field'],
      });
    const names = s.propertyNames as Schema | undefined;
    if (typeof names?.pattern === 'string') {
      const re = new RegExp(names.pattern, 'u');
      const key = PATTERN_BREAKERS.find((b) => !re.test(b)) as string;
      const value = Object.values(g)[0] ?? 'x';
      out.push({ what: 'key not matching', path: [...path, key], value, field: [...path, key] });
    }
    const extra = s.additionalProperties;
    if (typeof extra === 'object' && extra !== null && Object.keys(extra).length)
      out.push(...badCases(resolve, extra as Schema, [...path, 'probe'], undefined, query));
    for (const [k, p] of Object.entries(properties))
      out.push(...badCases(resolve, p, [...path, k], g[k], query));
  }
  return out;
}

/** `targets.hosts[0]`, as the server names fields; `root` for the value itself. */
function fieldName(path: Path, root: string): string {
  if (path.length === 0) return root;
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join('');
}

function withCase(good: unknown, c: BadCase): unknown {
  if (c.path.length === 0) return c.value;
  const copy = structuredClone(good) as Json;
  let parent: Json = copy;
  for (const k of c.path.slice(0, -1)) {
    parent[k] ??= {};
    parent = parent[k] as Json;
  }
  const last = c.path.at(-1) as string | number;
  if (c.remove) delete parent[last];
  else parent[last] = c.value;
  return copy;
}

describe('REST contract', () => {
  let controller: RunningController;
  let dataDir: string;
  let doc: Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // The range of a duration, which a JSON Schema bound cannot state on a string.
  const ms = (raw: unknown) => {
    try {
      return parseDuration('', raw);
    } catch {
      return undefined;
    }
  };
  ajv.addKeyword({
    keyword: 'x-minimum-ms',
    type: 'string',
    validate: (min: number, raw: unknown) => (ms(raw) ?? -Infinity) >= min,
  });
  ajv.addKeyword({
    keyword: 'x-maximum-ms',
    type: 'string',
    validate: (max: number, raw: unknown) => (ms(raw) ?? Infinity) <= max,
  });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'fleettrace-contract-'));
    controller = await startController({
      dataDir,
      listen: '127.0.0.1:0',
      enrollListen: '127.0.0.1:0',
      controlListen: '127.0.0.1:0',
      logger: new JsonLogger('error', { service: 'controller' }),
    });
    doc = (await (await fetch(`${controller.url}/api/v1/openapi.json`)).json()) as Json;
    ajv.addSchema(doc, 'openapi.json');
  });
  after(async () => {
    await controller.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const operations = (): Array<[string, string, Json]> =>
    Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => [method, path, op] as [string, string, Json]),
    );
  const pointer = (...parts: string[]) =>
    `openapi.json#/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
  const resolve = (s: Schema): Schema => {
    const target = s.$ref;
    if (typeof target !== 'string') return s;
    const schema = ajv.getSchema(`openapi.json${target}`)?.schema;
    assert.ok(schema && typeof schema === 'object', `unresolved ${target}`);
    return schema as Schema;
  };

  test('the document is valid OpenAPI 3.1', async () => {
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(doc.openapi, '3.1.0');
  });

  test('every route with a request schema has an example here, which its schemas accept', () => {
    for (const [method, path, op] of operations()) {
      const route = `${method.toUpperCase()} ${path}`;
      const query = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'query');
      if (!op.requestBody && !query.length) continue;
      const example = EXAMPLES[route];
      assert.ok(example, `${route} has a request schema but no example in this test`);
      if (op.requestBody) {
        const validate = ajv.getSchema(
          pointer('paths', path, method, 'requestBody', 'content', 'application/json', 'schema'),
        ) as ValidateFunction;
        for (const body of example.bodies ?? [])
          assert.ok(validate(body), `${route}: ${ajv.errorsText(validate.errors)}`);
      }
      for (const p of query) {
        assert.ok(example.query && (p.name as string) in example.query, `${route}: ?${p.name}`);
        const validate = ajv.compile(p.schema as Schema);
        assert.ok(validate(example.query[p.name as string]), `${route}: ?${p.name}`);
      }
    }
  });

  /**
   * Sends, for every route with an example, the example changed by each case
   * `generate` makes of its body and query parameters; `judge` says what is
   * wrong with the answer, given whether the document refuses the request.
   */
  async function sendCases(
    generate: Generator,
    judge: (c: BadCase, field: string, refusedByDocument: boolean, r: Answer) => string | undefined,
  ): Promise<{ sent: number; failures: string[] }> {
    const admin = controller.firstAdminToken as string;
    let sent = 0;
    const failures: string[] = [];
    for (const [method, path, op] of operations()) {
      const route = `${method.toUpperCase()} ${path}`;
      const example = EXAMPLES[route];
      if (!example) continue;
      const url = `${controller.url}${path.replace(/\{(\w+)\}/g, (_, k: string) => example.params?.[k] ?? k)}`;
      const send = async (query: Json, body: unknown): Promise<Answer> => {
        const qs = new URLSearchParams(
          Object.entries(query)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]): [string, string] => [k, Array.isArray(v) ? v.join(',') : String(v)]),
        ).toString();
        const res = await fetch(qs ? `${url}?${qs}` : url, {
          method: method.toUpperCase(),
          headers: {
            authorization: `Bearer ${admin}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        sent++;
        return { status: res.status, body: (await res.json()) as Json };
      };
      const record = (c: BadCase, where: string, failure: string | undefined) => {
        if (failure)
          failures.push(
            `${route} ${c.what} at ${where} (${JSON.stringify(c.value)?.slice(0, 40)}): ${failure}`,
          );
      };

      if (op.requestBody) {
        const validate = ajv.getSchema(
          pointer('paths', path, method, 'requestBody', 'content', 'application/json', 'schema'),
        ) as ValidateFunction;
        const root = resolve(validate.schema as Schema);
        const branches = (root.anyOf as Schema[] | undefined) ?? [root];
        for (const good of example.bodies ?? []) {
          const branch = branches.find((b) => ajv.validate(b, good)) as Schema;
          assert.ok(branch, `${route}: no branch accepts ${JSON.stringify(good)}`);
          for (const c of generate(resolve, branch, [], good, false)) {
            const body = withCase(good, c);
            const answer = await send(example.query ?? {}, body);
            const field = fieldName(c.field, 'body');
            record(c, fieldName(c.path, 'body'), judge(c, field, !validate(body), answer));
          }
        }
      }
      for (const p of (op.parameters ?? []) as Json[]) {
        if (p.in !== 'query') continue;
        const name = p.name as string;
        const validate = ajv.compile(p.schema as Schema);
        for (const c of generate(resolve, p.schema as Schema, [], example.query?.[name], true)) {
          const value = c.remove ? undefined : c.value;
          const answer = await send({ ...example.query, [name]: value }, example.bodies?.[0]);
          const field = fieldName([name, ...c.field], name);
          record(c, `?${name}`, judge(c, field, !validate(value), answer));
        }
      }
    }
    return { sent, failures };
  }

  test('every bad field is a 400 naming it, and the document refuses it too', async () => {
    const { sent, failures } = await sendCases(badCases, (_, field, refusedByDocument, r) => {
      if (!refusedByDocument) return 'the document accepts it';
      if (r.status !== 400 || r.body.field !== field)
        return `expected 400 naming ${field}, got ${r.status} ${JSON.stringify(r.body)}`;
      if (!String(r.body.error).startsWith(`${field}: `)) return `error ${String(r.body.error)}`;
      return undefined;
    });
    assert.deepEqual(failures, [], `${failures.length} of ${sent}:\n${failures.join('\n')}`);
    assert.ok(sent > 100, `only ${sent} bad requests were generated`);
  });

  test('a value at each bound of the document is not refused for that field', async () => {
    const { sent, failures } = await sendCases(edgeCases, (_, field, refusedByDocument, r) => {
      if (refusedByDocument) return 'the document refuses it';
      // A bound between two fields (interval within duration) is no bound of either in the document.
      if (
        r.status === 400 &&
        r.body.field === field &&
        !/must not be longer than/.test(String(r.body.error))
      )
        return `refused: ${JSON.stringify(r.body)}`;
      if (r.status === 500) return `server error: ${JSON.stringify(r.body)}`;
      return undefined;
    });
    assert.deepEqual(failures, [], `${failures.length} of ${sent}:\n${failures.join('\n')}`);
    assert.ok(sent > 20, `only ${sent} requests at a bound were generated`);
  });

  test("the controller's answers match the document's response schemas", async () => {
    const headers = {
      authorization: `Bearer ${controller.firstAdminToken as string}`,
      'content-type': 'application/json',
    };
    const call = async (method: string, route: string, path = route, body?: unknown) => {
      const res = await fetch(`${controller.url}${path}`, {
        method: method.toUpperCase(),
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const answer = (await res.json()) as Json;
      const validate = ajv.getSchema(
        pointer(
          'paths',
          route,
          method,
          'responses',
          String(res.status),
          'content',
          'application/json',
          'schema',
        ),
      );
      assert.ok(validate, `${method} ${route}: ${res.status} is not in the document`);
      assert.ok(
        validate(answer),
        `${method} ${route} ${res.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(answer)}`,
      );
      return { status: res.status, body: answer };
    };
    const job = await call('post', '/api/v1/jobs', undefined, JOB);
    assert.equal(job.status, 201);
    const schedule = await call(
      'post',
      '/api/v1/schedules',
      undefined,
      EXAMPLES['POST /api/v1/schedules']?.bodies?.[0],
    );
    assert.equal(schedule.status, 201);
    for (const body of EXAMPLES['POST /api/v1/tokens']?.bodies ?? [])
      assert.equal((await call('post', '/api/v1/tokens', undefined, body)).status, 201);
    for (const route of [
      '/healthz',
      '/readyz',
      '/api/v1/whoami',
      '/api/v1/agents',
      '/api/v1/jobs',
      '/api/v1/schedules',
      '/api/v1/tokens',
      '/api/v1/audit',
    ])
      assert.equal((await call('get', route)).status, 200, route);
    assert.equal(
      (await call('get', '/api/v1/jobs/{id}', `/api/v1/jobs/${String(job.body.id)}`)).status,
      200,
    );
    const scheduleId = String(schedule.body.id);
    assert.equal(
      (await call('get', '/api/v1/schedules/{id}', `/api/v1/schedules/${scheduleId}`)).status,
      200,
    );
    assert.equal(
      (await call('delete', '/api/v1/schedules/{id}', `/api/v1/schedules/${scheduleId}`)).status,
      200,
    );
    const cancel = `/api/v1/jobs/${String(job.body.id)}/cancel`;
    assert.equal(
      (await call('post', '/api/v1/jobs/{id}/cancel', cancel, { reason: 'test' })).status,
      200,
    );
    // Errors have their own schema: a 404, a 409 and a 400.
    assert.equal((await call('get', '/api/v1/agents/{id}', '/api/v1/agents/agt_none')).status, 404);
    assert.equal((await call('post', '/api/v1/jobs/{id}/cancel', cancel, {})).status, 409);
    assert.equal((await call('post', '/api/v1/jobs', undefined, {})).status, 400);
  });
});
