// SPDX-License-Identifier: Apache-2.0
/**
 * The job spec of the REST API: its schema (JobSpecRequest, from which the
 * OpenAPI document is generated too) and the checks a schema cannot state.
 * Every error names the field (`collectors[1].params.hz: must be between 1
 * and 1000`) and unknown fields are refused rather than ignored, so a typo
 * never silently widens a job. Collector parameters are an object in the
 * schema and are checked by the collector's own parseParams from the
 * registry; filters by the schema and then by the collectors' validateFilters,
 * the agent's own check (except that a cgroup path is only checked for form
 * here: it exists, or not, on each agent's host, and the agent says so in the
 * run's reason).
 */
import { z } from 'zod';
import { ValidationError, parseDuration } from '@fleettrace/common';
import {
  checkNeededFilters,
  COMM_MAX_BYTES,
  paramsJsonSchema,
  parseParamsWith,
  PID_MAX,
  UID_MAX,
  validateFilters,
} from '@fleettrace/collector-spec';
// Manifests only: the controller never loads kernel code (nor the native addon).
import { manifests } from '@fleettrace/collectors/manifests';
import { duration, fields, jsonInteger, parseRequest, satisfies } from '../http/request-fields.js';
import {
  compileHostGlob,
  HOST_CHARS,
  LABEL_KEY,
  LABEL_VALUE,
  labelKeyReason,
  labelValueReason,
  type Targets,
} from './host-targets.js';

export interface CollectorRequest {
  name: string;
  /** as the collector's parseParams accepted them, sent to agents as strings */
  params: Record<string, string>;
}

export interface JobFilters {
  pid?: number;
  uid?: number;
  comm?: string;
  cgroup?: string;
}

export interface JobLimits {
  /** share of host CPU, 0 < b <= 1 */
  overhead_budget: number;
  /** rows a run may send per second, beyond which the agent drops and counts them lost; 0 = no limit */
  max_events_per_second: number;
}

/** A validated job spec, as stored and returned. */
export interface JobSpec {
  targets: Targets;
  collectors: CollectorRequest[];
  filters: JobFilters;
  duration_ms: number;
  interval_ms: number;
  limits: JobLimits;
}

export const DEFAULT_DURATION_MS = 30_000;
export const MAX_DURATION_MS = 7 * 24 * 3_600_000;
export const DEFAULT_INTERVAL_MS = 1_000;
export const DEFAULT_OVERHEAD_BUDGET = 0.01;
/**
 * The largest overhead budget below the admin role. On a shared host an
 * operator's job must not be allowed to take the whole machine.
 */
export const OPERATOR_MAX_OVERHEAD_BUDGET = 0.05;
const MAX_COLLECTORS = 16;
const MAX_HOST_PATTERNS = 1_000;
const MAX_EVENTS_PER_SECOND = 100_000_000;

const sampleReason = (raw: unknown) =>
  `must be a number greater than 0 and at most 1, got ${JSON.stringify(raw)}`;
/** A fraction of hosts, 0 < p <= 1. */
export const sampleSchema = z
  .number({ error: (iss) => sampleReason(iss.input) })
  .gt(0, { error: (iss) => sampleReason(iss.input) })
  .lte(1, { error: (iss) => sampleReason(iss.input) });

const hostGlob = z
  .string({ error: 'must be a non-empty string' })
  .min(1, 'must be a non-empty string')
  .max(253, 'must be at most 253 characters')
  .check(satisfies((h: string) => compileHostGlob(h, '')))
  .meta({ description: 'host name or glob (* ? [a-z] [!0-9])', pattern: HOST_CHARS.source });

const targetsShape = {
  hosts: z
    .array(hostGlob, { error: 'must be an array of host names or globs' })
    .max(MAX_HOST_PATTERNS, `must have at most ${MAX_HOST_PATTERNS} entries`)
    .optional(),
  labels: z
    .record(
      z.string().regex(LABEL_KEY, { error: (iss) => labelKeyReason(iss.input) }),
      z
        .string({ error: (iss) => `must be a string, got ${typeof iss.input}` })
        .regex(LABEL_VALUE, { error: (iss) => labelValueReason(iss.input) }),
      { error: 'must be an object of label: value' },
    )
    .optional()
    .meta({ description: 'labels the host must all have' }),
};
const TARGETS_MISSING = 'is required: name hosts (globs allowed, e.g. ["web-*"]) or labels';

/** The registry's collectors, found by folder: a new one is in the schema, and the document, by being there. */
const COLLECTOR_NAMES = [...manifests().keys()] as [string, ...string[]];

const collectorRequest = fields({
  name: z
    .enum(COLLECTOR_NAMES, {
      error: (iss) =>
        typeof iss.input !== 'string' || iss.input === ''
          ? 'must be a collector name'
          : `unknown collector ${JSON.stringify(iss.input)}; known: ${COLLECTOR_NAMES.join(', ')}`,
    })
    .meta({ description: 'a collector (`fleettrace collectors` describes them)' }),
  params: z
    .record(
      z.string(),
      // The wire carries parameters as strings (map<string, string>): only scalars convert without loss.
      z.union([z.string(), z.number(), z.boolean()], {
        error: 'must be a string, number or boolean',
      }),
      { error: 'must be an object of parameter: value' },
    )
    .optional()
    .meta({
      description:
        "checked against the collector's parameter schema (its manifest), given for each collector in x-parameters",
      'x-parameters': Object.fromEntries(
        [...manifests().values()].map((m) => [m.name, paramsJsonSchema(m.params)]),
      ),
    }),
});

const COMM_TOO_LONG = `must be at most ${COMM_MAX_BYTES} bytes: the kernel keeps only that much of a command name`;
const CGROUP_FORM = 'must be an absolute cgroup path such as /site1';
const CGROUP_PLAIN = 'must be a plain path without .. or NUL, at most 4096 bytes';
const budgetReason = (raw: unknown) =>
  `must be a share of host CPU greater than 0 and at most 1 (0.005 = 0.5%), got ${JSON.stringify(raw)}`;
const eventsReason = (raw: unknown) =>
  `must be an integer between 0 and ${MAX_EVENTS_PER_SECOND} (0 = no limit), got ${JSON.stringify(raw)}`;

/** Fields a job and a schedule's job template share. */
const jobFields = {
  collectors: z
    .array(collectorRequest, { error: 'must be a non-empty array of {name, params}' })
    .min(1, 'must be a non-empty array of {name, params}')
    .max(MAX_COLLECTORS, `must have at most ${MAX_COLLECTORS} entries`),
  filters: fields({
    pid: jsonInteger(1, PID_MAX).optional().meta({ description: 'a JSON number' }),
    uid: jsonInteger(0, UID_MAX).optional().meta({ description: 'a JSON number' }),
    comm: z
      .string({ error: 'must be a non-empty string' })
      .min(1, 'must be a non-empty string')
      // The kernel's comm is a NUL-terminated byte array: a NUL would cut the
      // filter short, and control characters would reach terminals and logs.
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain NUL or control characters')
      .max(COMM_MAX_BYTES, COMM_TOO_LONG)
      .refine((c) => Buffer.byteLength(c) <= COMM_MAX_BYTES, COMM_TOO_LONG)
      .optional()
      .meta({
        description: `at most ${COMM_MAX_BYTES} bytes (UTF-8), no NUL or control characters`,
      }),
    cgroup: z
      .string({ error: CGROUP_FORM })
      .regex(/^\//, CGROUP_FORM)
      .max(4096, CGROUP_PLAIN)
      .refine((c) => !c.includes('\0') && !c.split('/').includes('..'), CGROUP_PLAIN)
      .optional()
      .meta({
        description:
          "absolute cgroup path, resolved on each host (a run's reason says if it is not there)",
      }),
  })
    .optional()
    .meta({ description: 'applied in the kernel where possible; syscall_trace needs pid or comm' }),
  interval: duration(100, 3_600_000, 'drain interval, e.g. 1s (default), at most 1h').optional(),
  limits: fields({
    overhead_budget: z
      .number({ error: (iss) => budgetReason(iss.input) })
      .gt(0, { error: (iss) => budgetReason(iss.input) })
      .lte(1, { error: (iss) => budgetReason(iss.input) })
      .optional()
      .meta({
        description: `share of host CPU (0.005 = 0.5%), default ${DEFAULT_OVERHEAD_BUDGET}; at most ${OPERATOR_MAX_OVERHEAD_BUDGET} below the admin role, up to 1 for admins`,
      }),
    max_events_per_second: z
      .number({ error: (iss) => eventsReason(iss.input) })
      .int({ error: (iss) => eventsReason(iss.input) })
      .min(0, { error: (iss) => eventsReason(iss.input) })
      .max(MAX_EVENTS_PER_SECOND, { error: (iss) => eventsReason(iss.input) })
      .optional()
      .meta({
        description:
          "rows each host's run may send per second; the agent drops the rest and counts them lost (0 = no limit)",
      }),
  }).optional(),
};

/** Body of POST /api/v1/jobs. */
export const JobSpecRequest = fields({
  targets: fields(
    {
      ...targetsShape,
      sample: sampleSchema.optional().meta({ description: 'fraction of matching hosts' }),
    },
    { missing: TARGETS_MISSING },
  ),
  collectors: jobFields.collectors,
  filters: jobFields.filters,
  duration: duration(
    1_000,
    MAX_DURATION_MS,
    'e.g. 30s, 5m (default 30s, at most 7 days)',
  ).optional(),
  interval: jobFields.interval,
  limits: jobFields.limits,
});

/** A schedule's job: no duration (the schedule's run_for is it) and no sample (the schedule's). */
export const JobTemplateRequest = fields(
  {
    targets: fields(targetsShape, {
      missing: TARGETS_MISSING,
      unknown: (key) =>
        key === 'sample' ? 'is the schedule\'s "sample" for schedules' : undefined,
    }),
    ...jobFields,
  },
  { missing: 'is required: {targets, collectors, ...}' },
);

export function parseJobSpec(raw: unknown, opts: { template?: boolean } = {}): JobSpec {
  const body: z.output<typeof JobTemplateRequest> & { duration?: string; targets: Targets } =
    opts.template ? parseRequest(JobTemplateRequest, raw) : parseRequest(JobSpecRequest, raw);
  const targets: Targets = {
    ...(body.targets.hosts ? { hosts: body.targets.hosts } : {}),
    ...(body.targets.labels ? { labels: body.targets.labels } : {}),
  };
  if (!targets.hosts?.length && !Object.keys(targets.labels ?? {}).length)
    throw new ValidationError(
      'targets',
      'must name at least one host or label (use hosts ["*"] to target every host)',
    );
  if (body.targets.sample !== undefined) targets.sample = body.targets.sample;
  const collectorsList = checkCollectors(body.collectors);
  // The agent's own check of the same bounds: it would refuse what this let through.
  const filters: JobFilters = validateFilters(
    { ...body.filters, cgroup: undefined } as JobFilters,
    'filters',
  );
  if (body.filters?.cgroup !== undefined) filters.cgroup = body.filters.cgroup;
  const registry = manifests();
  checkNeededFilters(
    collectorsList.map((c) => registry.get(c.name)!),
    filters,
  );
  // Both were checked in range by the schema.
  const durationMs = opts.template
    ? 0
    : body.duration === undefined
      ? DEFAULT_DURATION_MS
      : parseDuration('duration', body.duration);
  const intervalMs =
    body.interval === undefined ? DEFAULT_INTERVAL_MS : parseDuration('interval', body.interval);
  if (!opts.template && intervalMs > durationMs)
    throw new ValidationError('interval', `must not be longer than the duration (${durationMs}ms)`);
  return {
    targets,
    collectors: collectorsList,
    filters,
    duration_ms: durationMs,
    interval_ms: intervalMs,
    limits: {
      overhead_budget: body.limits?.overhead_budget ?? DEFAULT_OVERHEAD_BUDGET,
      max_events_per_second: body.limits?.max_events_per_second ?? 0,
    },
  };
}

/** Each collector once, with parameters its parseParams accepts. */
function checkCollectors(
  list: ReadonlyArray<{ name: string; params?: Record<string, string | number | boolean> }>,
): CollectorRequest[] {
  const registry = manifests();
  const seen = new Set<string>();
  return list.map((c, i) => {
    const field = `collectors[${i}]`;
    const def = registry.get(c.name)!; // the schema's enum
    if (seen.has(c.name))
      throw new ValidationError(`${field}.name`, `collector ${c.name} is listed twice`);
    seen.add(c.name);
    const params: Record<string, string> = {};
    if (c.params !== undefined) {
      for (const [k, v] of Object.entries(c.params)) params[k] = String(v);
      parseParamsWith(def.params, def.name, c.params, `${field}.params`);
    }
    return { name: c.name, params };
  });
}

/** The collectors of a spec that need the admin role, with what they see. */
export function sensitiveCollectors(
  spec: JobSpec,
  sensitive: Record<string, string>,
): Array<[number, string, string]> {
  return spec.collectors
    .map((c, i) => [i, c.name, sensitive[c.name]] as [number, string, string | undefined])
    .filter((x): x is [number, string, string] => x[2] !== undefined);
}
