// SPDX-License-Identifier: Apache-2.0
/**
 * The OpenAPI 3.1 document of the REST API, served at /api/v1/openapi.json,
 * generated from the zod schemas the server validates requests with (and
 * the response schemas beside them) by z.toJSONSchema: a bound the server
 * checks is the bound the document states. What is written here is only what
 * a schema does not say: each route's summary, role and error statuses. A
 * test compares the routes with those the application registers, and sends
 * each field's bad values to a real controller.
 */
import { z } from 'zod';
import { AgentListResponse, AgentResponse, AgentsListQuery } from '../agents/agents.schemas.js';
import { AuditEntryResponse, AuditListQuery, AuditListResponse } from '../audit/audit.schemas.js';
import {
  CreatedTokenResponse,
  TokenListResponse,
  TokenRequest,
  TokenResponse,
  WhoamiResponse,
} from '../auth/tokens.schemas.js';
import { HealthResponse, ReadyResponse } from '../health/health.schemas.js';
import { JobSpecRequest } from '../jobs/job-spec.js';
import {
  idParams,
  JobListResponse,
  JobResponse,
  JobSpecResponse,
  JobsListQuery,
  ReasonRequest,
  RunResponse,
} from '../jobs/jobs.schemas.js';
import {
  CrashesQuery,
  QueryAnswerResponse,
  SqlRequest,
  StoredResponse,
  TopQuery,
} from '../query/query.schemas.js';
import { ProfileQuery } from '../profiles/profiles.schemas.js';
import {
  ScheduleListResponse,
  ScheduleRequest,
  ScheduleResponse,
} from '../schedules/schedules.schemas.js';

type Json = Record<string, unknown>;

export const ErrorResponse = z.object({
  error: z.string().meta({ description: '<field>: <reason> for 400s' }),
  field: z.string().optional().meta({ description: 'the invalid field, for 400s' }),
  status: z.int(),
});

/** Schemas under components/schemas, referred to by name wherever they are used. */
const COMPONENTS: Record<string, z.ZodType> = {
  Error: ErrorResponse,
  JobSpec: JobSpecRequest,
  StoredJobSpec: JobSpecResponse,
  Job: JobResponse,
  Run: RunResponse,
  Agent: AgentResponse,
  Schedule: ScheduleResponse,
  ScheduleRequest,
  TokenRequest,
  Token: TokenResponse,
  AuditEntry: AuditEntryResponse,
  QueryAnswer: QueryAnswerResponse,
};

type Role = 'viewer' | 'operator' | 'admin' | 'public';

/** One route: its schemas, and what no schema says. */
export interface ApiRoute {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI form: /api/v1/jobs/{id} */
  path: string;
  tag: string;
  summary: string;
  role: Role;
  /** a z.object of the path's {parameters} */
  params?: z.ZodObject;
  /** a z.object of the query string's parameters */
  query?: z.ZodObject;
  body?: z.ZodType;
  /** JSON unless `text` or `files` */
  response?: z.ZodType;
  text?: string;
  /** a file in one of these media types (media type -> what it is), e.g. a profile */
  files?: Record<string, string>;
  status?: 200 | 201;
  errors: number[];
}

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request; `error` names the field',
  401: 'no or bad token',
  403: 'role too low',
  404: 'not found',
  409: 'conflict',
  422: 'the store refused or failed the query',
  429: 'too many queries; retry after `retry_after_s`',
  503: 'not ready',
};

/** Every route of the REST API. */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'health',
    summary: 'Liveness',
    role: 'public',
    response: HealthResponse,
    errors: [],
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'health',
    summary: 'Readiness: database and gRPC listeners',
    role: 'public',
    response: ReadyResponse,
    errors: [503],
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'health',
    summary: 'Prometheus metrics',
    role: 'viewer',
    text: 'Prometheus text format',
    errors: [401],
  },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    tag: 'meta',
    summary: 'This document',
    role: 'public',
    response: z.looseObject({}),
    errors: [],
  },
  {
    method: 'get',
    path: '/api/v1/whoami',
    tag: 'tokens',
    summary: "The caller's token name and role",
    role: 'viewer',
    response: WhoamiResponse,
    errors: [401],
  },
  {
    method: 'get',
    path: '/api/v1/agents',
    tag: 'agents',
    summary: 'List agents',
    role: 'viewer',
    query: AgentsListQuery,
    response: AgentListResponse,
    errors: [400, 401],
  },
  {
    method: 'get',
    path: '/api/v1/agents/{id}',
    tag: 'agents',
    summary: 'One agent',
    role: 'viewer',
    params: idParams('agent'),
    response: AgentResponse,
    errors: [401, 404],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/revoke',
    tag: 'agents',
    summary: 'Revoke an agent: its certificates are refused, its stream closed, its runs cancelled',
    role: 'admin',
    params: idParams('agent'),
    body: ReasonRequest,
    response: AgentResponse,
    errors: [400, 401, 403, 404],
  },
  {
    method: 'post',
    path: '/api/v1/jobs',
    tag: 'jobs',
    summary: 'Create a job and dispatch it (collectors that see sensitive data need admin)',
    role: 'operator',
    body: JobSpecRequest,
    response: JobResponse,
    status: 201,
    errors: [400, 401, 403],
  },
  {
    method: 'get',
    path: '/api/v1/jobs',
    tag: 'jobs',
    summary: 'List jobs, newest first',
    role: 'viewer',
    query: JobsListQuery,
    response: JobListResponse,
    errors: [400, 401],
  },
  {
    method: 'get',
    path: '/api/v1/jobs/{id}',
    tag: 'jobs',
    summary: 'One job with its per-host runs',
    role: 'viewer',
    params: idParams('job'),
    response: JobResponse,
    errors: [401, 404],
  },
  {
    method: 'get',
    path: '/api/v1/jobs/{id}/stored',
    tag: 'query',
    summary:
      "Per run: rows sent by the agent, acknowledged by the bus, and stored (counted in the job's collector tables)",
    role: 'viewer',
    params: idParams('job'),
    response: StoredResponse,
    errors: [401, 404, 422, 429, 503],
  },
  {
    method: 'post',
    path: '/api/v1/jobs/{id}/cancel',
    tag: 'jobs',
    summary: 'Cancel a running job on every host',
    role: 'operator',
    params: idParams('job'),
    body: ReasonRequest,
    response: JobResponse,
    errors: [400, 401, 403, 404, 409],
  },
  {
    method: 'post',
    path: '/api/v1/schedules',
    tag: 'schedules',
    summary: 'Create a schedule (every N, run for M, on a fraction p of hosts)',
    role: 'operator',
    body: ScheduleRequest,
    response: ScheduleResponse,
    status: 201,
    errors: [400, 401, 403],
  },
  {
    method: 'get',
    path: '/api/v1/schedules',
    tag: 'schedules',
    summary: 'List schedules',
    role: 'viewer',
    response: ScheduleListResponse,
    errors: [401],
  },
  {
    method: 'get',
    path: '/api/v1/schedules/{id}',
    tag: 'schedules',
    summary: 'One schedule',
    role: 'viewer',
    params: idParams('schedule'),
    response: ScheduleResponse,
    errors: [401, 404],
  },
  {
    method: 'delete',
    path: '/api/v1/schedules/{id}',
    tag: 'schedules',
    summary: 'Delete a schedule (its running jobs go on)',
    role: 'operator',
    params: idParams('schedule'),
    response: ScheduleResponse,
    errors: [401, 403, 404],
  },
  {
    method: 'post',
    path: '/api/v1/tokens',
    tag: 'tokens',
    summary: 'Create an API token or an agent bootstrap token; the secret is returned once',
    role: 'admin',
    body: TokenRequest,
    response: CreatedTokenResponse,
    status: 201,
    errors: [400, 401, 403],
  },
  {
    method: 'get',
    path: '/api/v1/tokens',
    tag: 'tokens',
    summary: 'List tokens (no secrets)',
    role: 'admin',
    response: TokenListResponse,
    errors: [401, 403],
  },
  {
    method: 'delete',
    path: '/api/v1/tokens/{id}',
    tag: 'tokens',
    summary: 'Revoke a token (not the last admin token)',
    role: 'admin',
    params: idParams('token'),
    response: TokenResponse,
    errors: [401, 403, 404, 409],
  },
  {
    method: 'post',
    path: '/api/v1/query',
    tag: 'query',
    summary:
      "Run one SELECT / WITH / SHOW / DESCRIBE / EXPLAIN statement on the event store (harmless table functions only; no SETTINGS, no INTO OUTFILE; limits of the caller's role)",
    role: 'viewer',
    body: SqlRequest,
    response: QueryAnswerResponse,
    errors: [400, 401, 403, 422, 429, 503],
  },
  {
    method: 'get',
    path: '/api/v1/top',
    tag: 'query',
    summary: 'Who used the CPU and the syscalls across the fleet',
    role: 'viewer',
    query: TopQuery,
    response: QueryAnswerResponse,
    errors: [400, 401, 403, 422, 429, 503],
  },
  {
    method: 'get',
    path: '/api/v1/crashes',
    tag: 'query',
    summary: 'Exits by signal, OOM kills, and kills with sender and target, newest first',
    role: 'viewer',
    query: CrashesQuery,
    response: QueryAnswerResponse,
    errors: [400, 401, 403, 422, 429, 503],
  },
  {
    method: 'get',
    path: '/api/v1/profiles',
    tag: 'query',
    summary:
      'A profile of cpu_profile or offcpu stacks (docs/profiles.md): flame graph, folded, pprof or speedscope; with base.* fields a differential against that baseline',
    role: 'viewer',
    query: ProfileQuery,
    files: {
      'image/svg+xml': 'format=svg, an interactive flame graph (self-contained)',
      'text/plain': 'format=folded, collapsed stacks (`a;b;c 123`; two values for a differential)',
      'application/octet-stream': 'format=pprof, gzipped profile.proto',
      'application/json': 'format=speedscope, speedscope file format',
    },
    errors: [400, 401, 403, 422, 429, 503],
  },
  {
    method: 'get',
    path: '/api/v1/audit',
    tag: 'audit',
    summary: 'Audit log, newest first',
    role: 'admin',
    query: AuditListQuery,
    response: AuditListResponse,
    errors: [400, 401, 403],
  },
];

const ref = (id: string): Json => ({ $ref: `#/components/schemas/${id}` });

/** The document, generated from API_ROUTES and their schemas. */
export function openApiDocument(routes: readonly ApiRoute[] = API_ROUTES): Json {
  // One conversion of every schema, so that a named one is a $ref wherever it
  // is used; a route's own schemas get temporary ids and are inlined after.
  const registry = z.registry<{ id: string }>();
  const idOf = new Map<z.ZodType, string>();
  for (const [id, schema] of Object.entries(COMPONENTS)) {
    registry.add(schema, { id });
    idOf.set(schema, id);
  }
  const local = (schema: z.ZodType | undefined, id: string): string | undefined => {
    if (!schema) return undefined;
    const named = idOf.get(schema);
    if (named) return named;
    registry.add(schema, { id });
    idOf.set(schema, id);
    return id;
  };
  const ids = routes.map((r, i) => ({
    params: local(r.params, `route${i}.params`),
    query: local(r.query, `route${i}.query`),
    body: local(r.body, `route${i}.body`),
    response: local(r.response, `route${i}.response`),
  }));
  const { schemas } = z.toJSONSchema(registry, {
    io: 'input',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  for (const s of Object.values(schemas)) {
    delete s.$schema;
    delete s.$id;
  }
  const schemaFor = (id: string | undefined): Json | undefined =>
    id === undefined ? undefined : id in COMPONENTS ? ref(id) : schemas[id];

  const paths: Record<string, Record<string, Json>> = {};
  routes.forEach((r, i) => {
    const own = ids[i] as (typeof ids)[number];
    const parameters = [
      ...parametersOf(schemaFor(own.params), 'path'),
      ...parametersOf(schemaFor(own.query), 'query'),
    ];
    const body = schemaFor(own.body);
    const response = schemaFor(own.response);
    (paths[r.path] ??= {})[r.method] = {
      tags: [r.tag],
      summary: r.summary,
      description:
        r.role === 'public' ? 'No token needed.' : `Needs a token with role ${r.role} or higher.`,
      ...(r.role === 'public' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(body
        ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } }
        : {}),
      responses: {
        [String(r.status ?? 200)]: r.files
          ? {
              description: Object.entries(r.files)
                .map(([type, what]) => `${type}: ${what}`)
                .join('; '),
              content: Object.fromEntries(
                Object.keys(r.files).map((type) => [
                  type,
                  { schema: { type: 'string', contentMediaType: type } },
                ]),
              ),
            }
          : r.text
            ? { description: r.text, content: { 'text/plain': { schema: { type: 'string' } } } }
            : { description: 'OK', content: { 'application/json': { schema: response ?? {} } } },
        ...Object.fromEntries(
          r.errors.map((code) => [
            String(code),
            {
              description: ERROR_TEXT[code] ?? 'error',
              content: { 'application/json': { schema: ref('Error') } },
            },
          ]),
        ),
      },
    };
  });

  return {
    openapi: '3.1.0',
    info: {
      title: 'fleettrace controller',
      version: '1',
      description:
        'Jobs, schedules, agents, tokens and audit of a fleettrace controller. Errors are {"error": "<field>: <reason>", "status": N}. Durations are text such as 30s or 1h30m; their range is in x-minimum-ms and x-maximum-ms.',
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
      schemas: Object.fromEntries(Object.keys(COMPONENTS).map((id) => [id, schemas[id]])),
    },
    paths,
  };
}

/** The properties of an object schema as OpenAPI parameters. */
function parametersOf(schema: Json | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, { description, ...property }]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    ...(description ? { description } : {}),
    // A list in a query string is comma-separated: ?hosts=a,b
    ...(property.type === 'array' ? { style: 'form', explode: false } : {}),
    schema: property,
  }));
}
