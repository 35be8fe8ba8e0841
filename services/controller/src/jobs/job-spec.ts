// SPDX-License-Identifier: Apache-2.0
/**
 * The job spec of the REST API, validated field by field: every error names
 * the field (`collectors[1].params.hz: must be between 1 and 1000`) and
 * unknown fields are refused rather than ignored, so a typo never silently
 * widens a job. Collector parameters are checked by the collector's own
 * parseParams from the registry; filters by the collectors' validateFilters
 * (except that a cgroup path is only checked for form here: it exists, or
 * not, on each agent's host, and the agent says so in the run's reason).
 */
import { ValidationError, parseDuration } from '@fleettrace/common';
import { checkNeededFilters, collectors, validateFilters } from '@fleettrace/collectors';
import { objectWith } from '../http/request-fields.js';
import { compileHostGlob, validateLabel, type Targets } from './host-targets.js';

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

export const JOB_SPEC_FIELDS = [
  'targets',
  'collectors',
  'filters',
  'duration',
  'interval',
  'limits',
] as const;
/** A schedule's job template: no duration (the schedule's run_for is it) and no sample (the schedule's). */
export const TEMPLATE_FIELDS = ['targets', 'collectors', 'filters', 'interval', 'limits'] as const;

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

export function parseJobSpec(raw: unknown, opts: { template?: boolean } = {}): JobSpec {
  const body = objectWith(raw, '', opts.template ? TEMPLATE_FIELDS : JOB_SPEC_FIELDS);
  const targets = parseTargets(body.targets);
  const collectorsList = parseCollectors(body.collectors);
  const filters = parseFilters(body.filters);
  const registry = collectors();
  checkNeededFilters(
    collectorsList.map((c) => registry.get(c.name) as { name: string }),
    filters,
  );
  const durationMs = opts.template
    ? 0
    : body.duration === undefined
      ? DEFAULT_DURATION_MS
      : parseDuration('duration', body.duration, { minMs: 1_000, maxMs: MAX_DURATION_MS });
  const intervalMs =
    body.interval === undefined
      ? DEFAULT_INTERVAL_MS
      : parseDuration('interval', body.interval, { minMs: 100, maxMs: 3_600_000 });
  if (!opts.template && intervalMs > durationMs)
    throw new ValidationError('interval', `must not be longer than the duration (${durationMs}ms)`);
  return {
    targets,
    collectors: collectorsList,
    filters,
    duration_ms: durationMs,
    interval_ms: intervalMs,
    limits: parseLimits(body.limits),
  };
}

function parseTargets(raw: unknown): Targets {
  if (raw === undefined)
    throw new ValidationError(
      'targets',
      'is required: name hosts (globs allowed, e.g. ["web-*"]) or labels',
    );
  const t = objectWith(raw, 'targets', ['hosts', 'labels', 'sample']);
  const out: Targets = {};
  if (t.hosts !== undefined) {
    if (!Array.isArray(t.hosts))
      throw new ValidationError('targets.hosts', 'must be an array of host names or globs');
    if (t.hosts.length > MAX_HOST_PATTERNS)
      throw new ValidationError('targets.hosts', `must have at most ${MAX_HOST_PATTERNS} entries`);
    out.hosts = t.hosts.map((h, i) => {
      const field = `targets.hosts[${i}]`;
      if (typeof h !== 'string' || h === '')
        throw new ValidationError(field, 'must be a non-empty string');
      if (h.length > 253) throw new ValidationError(field, 'must be at most 253 characters');
      compileHostGlob(h, field);
      return h;
    });
  }
  if (t.labels !== undefined) {
    if (typeof t.labels !== 'object' || t.labels === null || Array.isArray(t.labels))
      throw new ValidationError('targets.labels', 'must be an object of label: value');
    out.labels = {};
    for (const [k, v] of Object.entries(t.labels))
      out.labels[k] = validateLabel(k, v, `targets.labels.${k}`);
  }
  if (!out.hosts?.length && !Object.keys(out.labels ?? {}).length)
    throw new ValidationError(
      'targets',
      'must name at least one host or label (use hosts ["*"] to target every host)',
    );
  if (t.sample !== undefined) out.sample = parseSample(t.sample, 'targets.sample');
  return out;
}

export function parseSample(raw: unknown, field: string): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw <= 0 || raw > 1)
    throw new ValidationError(
      field,
      `must be a number greater than 0 and at most 1, got ${JSON.stringify(raw)}`,
    );
  return raw;
}

function parseCollectors(raw: unknown): CollectorRequest[] {
  if (!Array.isArray(raw) || raw.length === 0)
    throw new ValidationError('collectors', 'must be a non-empty array of {name, params}');
  if (raw.length > MAX_COLLECTORS)
    throw new ValidationError('collectors', `must have at most ${MAX_COLLECTORS} entries`);
  const registry = collectors();
  const seen = new Set<string>();
  return raw.map((entry, i) => {
    const field = `collectors[${i}]`;
    const c = objectWith(entry, field, ['name', 'params']);
    if (typeof c.name !== 'string' || c.name === '')
      throw new ValidationError(`${field}.name`, 'must be a collector name');
    const def = registry.get(c.name);
    if (!def)
      throw new ValidationError(
        `${field}.name`,
        `unknown collector ${JSON.stringify(c.name)}; known: ${[...registry.keys()].join(', ')}`,
      );
    if (seen.has(c.name))
      throw new ValidationError(`${field}.name`, `collector ${c.name} is listed twice`);
    seen.add(c.name);
    const params: Record<string, string> = {};
    if (c.params !== undefined) {
      if (typeof c.params !== 'object' || c.params === null || Array.isArray(c.params))
        throw new ValidationError(`${field}.params`, 'must be an object of parameter: value');
      for (const [k, v] of Object.entries(c.params)) {
        // The wire carries parameters as strings (map<string, string>): only scalars convert without loss.
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
          throw new ValidationError(`${field}.params.${k}`, 'must be a string, number or boolean');
        params[k] = String(v);
      }
      def.parseParams(c.params as Record<string, unknown>, `${field}.params`);
    }
    return { name: c.name, params };
  });
}

function parseFilters(raw: unknown): JobFilters {
  if (raw === undefined) return {};
  const f = objectWith(raw, 'filters', ['pid', 'uid', 'comm', 'cgroup']);
  const { cgroup, ...rest } = f;
  const out: JobFilters = validateFilters(rest as JobFilters, 'filters');
  if (cgroup !== undefined) {
    if (typeof cgroup !== 'string' || !cgroup.startsWith('/'))
      throw new ValidationError('filters.cgroup', 'must be an absolute cgroup path such as /site1');
    if (cgroup.length > 4096 || cgroup.includes('\0') || cgroup.split('/').includes('..'))
      throw new ValidationError(
        'filters.cgroup',
        'must be a plain path without .. or NUL, at most 4096 bytes',
      );
    out.cgroup = cgroup;
  }
  return out;
}

function parseLimits(raw: unknown): JobLimits {
  const out: JobLimits = { overhead_budget: DEFAULT_OVERHEAD_BUDGET, max_events_per_second: 0 };
  if (raw === undefined) return out;
  const l = objectWith(raw, 'limits', ['overhead_budget', 'max_events_per_second']);
  if (l.overhead_budget !== undefined) {
    const b = l.overhead_budget;
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0 || b > 1)
      throw new ValidationError(
        'limits.overhead_budget',
        `must be a share of host CPU greater than 0 and at most 1 (0.005 = 0.5%), got ${JSON.stringify(b)}`,
      );
    out.overhead_budget = b;
  }
  if (l.max_events_per_second !== undefined) {
    const m = l.max_events_per_second;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 100_000_000)
      throw new ValidationError(
        'limits.max_events_per_second',
        `must be an integer between 0 and 100000000 (0 = no limit), got ${JSON.stringify(m)}`,
      );
    out.max_events_per_second = m;
  }
  return out;
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
