// SPDX-License-Identifier: Apache-2.0
/**
 * The OpenAPI 3.1 document of the REST API, served at /api/v1/openapi.json.
 * Written by hand next to the validators it describes; a test compares its
 * paths with the routes the application actually registers, so an endpoint
 * cannot be added without being described.
 */
type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): Schema => ({
  type: 'string',
  ...(description ? { description } : {}),
});
const arr = (items: Schema): Schema => ({ type: 'array', items });
const obj = (
  properties: Record<string, Schema>,
  required: string[] = [],
  extra = false,
): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: extra,
});

const errorResponses = (...codes: number[]): Record<string, Schema> =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description:
          {
            400: 'invalid request; `error` names the field',
            401: 'no or bad token',
            403: 'role too low',
            404: 'not found',
            409: 'conflict',
            503: 'not ready',
          }[c] ?? 'error',
        content: { 'application/json': { schema: ref('Error') } },
      },
    ]),
  );

const json = (schema: Schema, description = 'OK'): Schema => ({
  description,
  content: { 'application/json': { schema } },
});

interface Op {
  summary: string;
  role?: 'viewer' | 'operator' | 'admin' | 'public';
  body?: Schema;
  response: Schema;
  params?: Array<{ name: string; in: 'path' | 'query'; description: string; schema?: Schema }>;
  errors?: number[];
}

function operation(tag: string, op: Op): Schema {
  const role = op.role ?? 'viewer';
  return {
    tags: [tag],
    summary: op.summary,
    description:
      role === 'public' ? 'No token needed.' : `Needs a token with role ${role} or higher.`,
    ...(role === 'public' ? { security: [] } : {}),
    ...(op.params
      ? {
          parameters: op.params.map((p) => ({
            name: p.name,
            in: p.in,
            required: p.in === 'path',
            description: p.description,
            schema: p.schema ?? { type: 'string' },
          })),
        }
      : {}),
    ...(op.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } }
      : {}),
    responses: {
      [op.body && op.summary.startsWith('Create') ? '201' : '200']: json(op.response),
      ...errorResponses(...(op.errors ?? (role === 'public' ? [] : [401, 403]))),
    },
  };
}

const id = (what: string) => ({ name: 'id', in: 'path' as const, description: `${what} id` });
const limit = {
  name: 'limit',
  in: 'query' as const,
  description: 'most entries to return',
  schema: { type: 'integer', minimum: 1 },
};

const jobSpecProperties = {
  targets: obj(
    {
      hosts: arr(str('host name or glob (* ? [a-z] [!0-9])')),
      labels: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'all must match',
      },
      sample: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 1,
        description: 'fraction of matching hosts',
      },
    },
    [],
  ),
  collectors: arr(
    obj(
      {
        name: str('collector name (GET the collectors with `fleettrace collectors`)'),
        params: {
          type: 'object',
          additionalProperties: { type: ['string', 'number', 'boolean'] },
          description: "checked by the collector's own parameter parser",
        },
      },
      ['name'],
    ),
  ),
  filters: {
    ...obj({
      pid: { type: 'integer', minimum: 1, maximum: 4_194_304, description: 'a JSON number' },
      uid: { type: 'integer', minimum: 0, maximum: 4_294_967_294, description: 'a JSON number' },
      comm: {
        type: 'string',
        minLength: 1,
        maxLength: 15,
        pattern: '^[^\\u0000-\\u001f\\u007f]+$',
        description: 'at most 15 bytes (UTF-8), no NUL or control characters',
      },
      cgroup: str('absolute cgroup path, resolved on each host'),
    }),
    description: 'syscall_trace needs pid or comm',
  },
  duration: str('e.g. 30s, 5m (default 30s, at most 7 days)'),
  interval: str('drain interval, e.g. 1s (default)'),
  limits: obj({
    overhead_budget: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 1,
      description:
        'share of host CPU (0.005 = 0.5%), default 0.01; at most 0.05 (5%) below the admin role, up to 1 for admins',
    },
    max_events_per_second: {
      type: 'integer',
      minimum: 0,
      maximum: 100_000_000,
      description:
        "rows each host's run may send per second; the agent drops the rest and counts them lost (0 = no limit)",
    },
  }),
};

export function openApiDocument(): Schema {
  const tokenBody: Schema = {
    oneOf: [
      obj(
        {
          kind: { const: 'api' },
          name: str(),
          role: { enum: ['viewer', 'operator', 'admin'] },
          ttl: str('e.g. 90d; none = no expiry'),
        },
        ['role'],
      ),
      obj(
        {
          kind: { const: 'bootstrap' },
          name: str(),
          max_uses: { type: 'integer', minimum: 1, default: 1 },
          ttl: str('default 24h'),
        },
        ['kind'],
      ),
    ],
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'fleettrace controller',
      version: '1',
      description:
        'Jobs, schedules, agents, tokens and audit of a fleettrace controller. Errors are {"error": "<field>: <reason>", "status": N}.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'an API token, ftapi.<id>.<secret>',
        },
      },
      schemas: {
        Error: obj(
          { error: str(), field: str('the invalid field, for 400s'), status: { type: 'integer' } },
          ['error', 'status'],
        ),
        JobSpec: obj(jobSpecProperties, ['targets', 'collectors']),
        Job: obj(
          {
            id: str(),
            state: { enum: ['running', 'finished', 'cancelled'] },
            spec: { type: 'object' },
            created_by: str(),
            created: str(),
            start: str(),
            end: str(),
            schedule_id: { type: ['string', 'null'] },
            weight: { type: 'number' },
            cancelled: { type: ['string', 'null'] },
            cancel_reason: { type: ['string', 'null'] },
            runs_by_state: { type: 'object', additionalProperties: { type: 'integer' } },
            events_sent: { type: 'integer' },
            events_acked: { type: 'integer' },
            events_lost: { type: 'integer' },
            runs: arr(ref('Run')),
          },
          [],
          true,
        ),
        Run: obj(
          {
            id: str(),
            agent_id: str(),
            host: str(),
            state: {
              enum: ['pending', 'running', 'finished', 'failed', 'throttled', 'cancelled', 'lost'],
            },
            reason: str(),
            events_sent: { type: 'integer', description: 'rows the agent handed to its publisher' },
            events_acked: {
              type: 'integer',
              description: 'of events_sent, rows the bus acknowledged',
            },
            events_lost: { type: 'integer' },
            overhead_share: { type: 'number' },
            weight: { type: 'number' },
            dispatched: { type: ['string', 'null'] },
            acked: { type: ['string', 'null'] },
            ended: { type: ['string', 'null'] },
            ack_latency_ms: { type: ['integer', 'null'] },
          },
          [],
          true,
        ),
        Agent: obj(
          {
            id: str(),
            hostname: str(),
            labels: { type: 'object', additionalProperties: { type: 'string' } },
            kernel: str(),
            features: arr(str()),
            missing_features: { type: 'object', additionalProperties: { type: 'string' } },
            collectors: arr(str()),
            cpus: { type: 'integer' },
            agent_version: str(),
            state: { enum: ['enrolled', 'connected', 'disconnected', 'lost', 'revoked'] },
            state_reason: str(),
            enrolled: str(),
            connected: { type: ['string', 'null'] },
            last_heartbeat: { type: ['string', 'null'] },
            overhead_share: { type: 'number' },
            certificate: { type: 'object' },
          },
          [],
          true,
        ),
        Schedule: {
          type: 'object',
          additionalProperties: true,
          properties: {
            state: {
              enum: ['active', 'paused'],
              description:
                "paused when its creator's token is gone, revoked, expired or lacks the role the job needs",
            },
            paused: { type: ['string', 'null'] },
            paused_reason: { type: ['string', 'null'] },
          },
        },
        ScheduleRequest: obj(
          {
            name: str(),
            every: str('period, e.g. 10m'),
            run_for: str('job duration, at most `every`'),
            sample: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            job: obj(
              {
                targets: jobSpecProperties.targets,
                collectors: jobSpecProperties.collectors,
                filters: jobSpecProperties.filters,
                interval: jobSpecProperties.interval,
                limits: jobSpecProperties.limits,
              },
              ['targets', 'collectors'],
            ),
          },
          ['every', 'run_for', 'job'],
        ),
        Token: { type: 'object', additionalProperties: true },
        AuditEntry: {
          type: 'object',
          additionalProperties: true,
          properties: {
            action: str('e.g. job.create, query, auth.denied, schedule.pause'),
            outcome: { enum: ['ok', 'denied', 'refused', 'error', 'pending'] },
            count: {
              type: 'integer',
              description:
                'attempts the entry stands for: denied attempts are aggregated per (source, reason) and minute',
            },
            source: str('client address, gRPC peer, or schedule:<id>'),
          },
        },
        QueryAnswer: obj(
          {
            columns: arr(obj({ name: str(), type: str('ClickHouse type') })),
            rows: arr({ type: 'array', items: {} }),
            kind: str('SELECT, WITH, SHOW, DESCRIBE or EXPLAIN'),
          },
          ['columns', 'rows'],
        ),
      },
    },
    paths: {
      '/healthz': {
        get: operation('health', {
          summary: 'Liveness',
          role: 'public',
          response: obj({ status: str() }),
        }),
      },
      '/readyz': {
        get: operation('health', {
          summary: 'Readiness: database and gRPC listeners',
          role: 'public',
          response: obj({
            status: str(),
            enroll: str(),
            control: str(),
            connected_agents: { type: 'integer' },
          }),
          errors: [503],
        }),
      },
      '/metrics': {
        get: {
          ...operation('health', { summary: 'Prometheus metrics', role: 'public', response: {} }),
          responses: {
            '200': {
              description: 'Prometheus text format',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
          },
        },
      },
      '/api/v1/openapi.json': {
        get: operation('meta', {
          summary: 'This document',
          role: 'public',
          response: { type: 'object' },
        }),
      },
      '/api/v1/whoami': {
        get: operation('tokens', {
          summary: "The caller's token name and role",
          response: obj({ id: str(), name: str(), role: str() }),
        }),
      },
      '/api/v1/agents': {
        get: operation('agents', {
          summary: 'List agents',
          params: [{ name: 'state', in: 'query', description: 'only agents in this state' }],
          response: obj({ agents: arr(ref('Agent')) }),
          errors: [400, 401],
        }),
      },
      '/api/v1/agents/{id}': {
        get: operation('agents', {
          summary: 'One agent',
          params: [id('agent')],
          response: ref('Agent'),
          errors: [401, 404],
        }),
      },
      '/api/v1/agents/{id}/revoke': {
        post: operation('agents', {
          summary:
            'Revoke an agent: its certificates are refused, its stream closed, its runs cancelled',
          role: 'admin',
          params: [id('agent')],
          body: obj({ reason: str() }),
          response: ref('Agent'),
          errors: [400, 401, 403, 404],
        }),
      },
      '/api/v1/jobs': {
        post: operation('jobs', {
          summary: 'Create a job and dispatch it (collectors that see sensitive data need admin)',
          role: 'operator',
          body: ref('JobSpec'),
          response: ref('Job'),
          errors: [400, 401, 403],
        }),
        get: operation('jobs', {
          summary: 'List jobs, newest first',
          params: [
            { name: 'state', in: 'query', description: 'running, finished or cancelled' },
            limit,
            { name: 'schedule_id', in: 'query', description: 'jobs of one schedule' },
          ],
          response: obj({ jobs: arr(ref('Job')) }),
          errors: [400, 401],
        }),
      },
      '/api/v1/jobs/{id}': {
        get: operation('jobs', {
          summary: 'One job with its per-host runs',
          params: [id('job')],
          response: ref('Job'),
          errors: [401, 404],
        }),
      },
      '/api/v1/jobs/{id}/stored': {
        get: operation('query', {
          summary:
            "Per run: rows sent by the agent, acknowledged by the bus, and stored (counted in the job's collector tables)",
          params: [id('job')],
          response: obj({
            job_id: str(),
            tables: arr(str()),
            runs: arr(
              obj({
                run_id: str(),
                host: str(),
                state: str(),
                events_sent: { type: 'integer' },
                events_acked: { type: 'integer' },
                rows_stored: { type: 'integer' },
                events_lost: { type: 'integer' },
              }),
            ),
          }),
          errors: [401, 404, 422, 429, 503],
        }),
      },
      '/api/v1/jobs/{id}/cancel': {
        post: operation('jobs', {
          summary: 'Cancel a running job on every host',
          role: 'operator',
          params: [id('job')],
          body: obj({ reason: str() }),
          response: ref('Job'),
          errors: [400, 401, 403, 404, 409],
        }),
      },
      '/api/v1/schedules': {
        post: operation('schedules', {
          summary: 'Create a schedule (every N, run for M, on a fraction p of hosts)',
          role: 'operator',
          body: ref('ScheduleRequest'),
          response: ref('Schedule'),
          errors: [400, 401, 403],
        }),
        get: operation('schedules', {
          summary: 'List schedules',
          response: obj({ schedules: arr(ref('Schedule')) }),
          errors: [401],
        }),
      },
      '/api/v1/schedules/{id}': {
        get: operation('schedules', {
          summary: 'One schedule',
          params: [id('schedule')],
          response: ref('Schedule'),
          errors: [401, 404],
        }),
        delete: operation('schedules', {
          summary: 'Delete a schedule (its running jobs go on)',
          role: 'operator',
          params: [id('schedule')],
          response: ref('Schedule'),
          errors: [401, 403, 404],
        }),
      },
      '/api/v1/tokens': {
        post: operation('tokens', {
          summary: 'Create an API token or an agent bootstrap token; the secret is returned once',
          role: 'admin',
          body: tokenBody,
          response: obj({ token: str(), info: ref('Token') }),
          errors: [400, 401, 403],
        }),
        get: operation('tokens', {
          summary: 'List tokens (no secrets)',
          role: 'admin',
          response: obj({ tokens: arr(ref('Token')) }),
        }),
      },
      '/api/v1/tokens/{id}': {
        delete: operation('tokens', {
          summary: 'Revoke a token (not the last admin token)',
          role: 'admin',
          params: [id('token')],
          response: ref('Token'),
          errors: [401, 403, 404, 409],
        }),
      },
      '/api/v1/query': {
        post: operation('query', {
          summary:
            "Run one SELECT / WITH / SHOW / DESCRIBE / EXPLAIN statement on the event store (harmless table functions only; no SETTINGS, no INTO OUTFILE; limits of the caller's role)",
          body: obj({ sql: str('the statement') }, ['sql']),
          response: ref('QueryAnswer'),
          errors: [400, 401, 403, 422, 503],
        }),
      },
      '/api/v1/top': {
        get: operation('query', {
          summary: 'Who used the CPU and the syscalls across the fleet',
          params: [
            { name: 'by', in: 'query', description: 'uid (default), comm or host' },
            { name: 'since', in: 'query', description: 'duration, e.g. 10m (default)' },
            { name: 'hosts', in: 'query', description: 'comma-separated host names' },
          ],
          response: ref('QueryAnswer'),
          errors: [400, 401, 403, 422, 503],
        }),
      },
      '/api/v1/crashes': {
        get: operation('query', {
          summary: 'Exits by signal, OOM kills, and kills with sender and target, newest first',
          params: [
            { name: 'since', in: 'query', description: 'duration, e.g. 1h (default)' },
            { name: 'hosts', in: 'query', description: 'comma-separated host names' },
          ],
          response: ref('QueryAnswer'),
          errors: [400, 401, 403, 422, 503],
        }),
      },
      '/api/v1/audit': {
        get: operation('audit', {
          summary: 'Audit log, newest first',
          role: 'admin',
          params: [
            limit,
            { name: 'action', in: 'query', description: 'e.g. job.create, auth.denied' },
            { name: 'outcome', in: 'query', description: 'ok, denied, refused, error or pending' },
            { name: 'since', in: 'query', description: 'ISO-8601 time, or a duration back (1h)' },
          ],
          response: obj({ entries: arr(ref('AuditEntry')) }),
          errors: [400, 401, 403],
        }),
      },
    },
  };
}
