// SPDX-License-Identifier: Apache-2.0
/**
 * Which stacks a profile is made of, and the SQL that fetches them: a
 * collector (`cpu_profile` or `offcpu`), what to sum (the value), and
 * filters on the identity columns every row carries (docs/schema.md).
 *
 * Every field is checked by a zod schema whose messages are the API's
 * `field: reason` reasons (what the controller's REST route and a CLI show);
 * values reach the SQL only after that, and strings are quoted as ClickHouse
 * string literals besides. The same schema takes a query string's text
 * (`uid=1001`, `hosts=a,b`) and JSON values.
 */
import { z } from 'zod';
import { parseDuration, ValidationError } from '@fleettrace/common';
import { queryInteger } from '@fleettrace/collector-spec';
import type { SampleType } from './profile';

export const PROFILE_COLLECTORS = ['cpu_profile', 'offcpu'] as const;
export type ProfileCollector = (typeof PROFILE_COLLECTORS)[number];

/** What a profile's values are, per collector; the first is the default. */
export const PROFILE_VALUES = {
  cpu_profile: ['samples', 'cpu_ns', 'weighted'],
  offcpu: ['total_ns', 'blocks'],
} as const satisfies Record<ProfileCollector, readonly string[]>;
export type ProfileValue = (typeof PROFILE_VALUES)[ProfileCollector][number];
const ALL_VALUES = ['samples', 'cpu_ns', 'weighted', 'total_ns', 'blocks'] as const;

/** The offcpu collector's blocked states (its `state` column); test/registry/profile-states checks them against its manifest. */
export const BLOCKED_STATES = ['interruptible', 'uninterruptible', 'idle', 'other'] as const;

/**
 * Each value's SQL over the collector's table and its pprof sample type.
 * `weighted`: the sampled count times the row's fleet weight (1/p of a
 * schedule sampling a fraction p of hosts, times 1/duty cycle), i.e. an
 * estimate of what the whole fleet would have shown; fractional, so it is
 * stored as an integer in thousandths of a sample (`millisamples`).
 */
export const VALUE_COLUMNS: Record<ProfileValue, { sql: string; sampleType: SampleType }> = {
  samples: { sql: 'sum(samples)', sampleType: { type: 'samples', unit: 'count' } },
  cpu_ns: { sql: 'sum(cpu_ns)', sampleType: { type: 'cpu', unit: 'nanoseconds' } },
  weighted: {
    sql: 'toUInt64(round(sum(samples * weight) * 1000))',
    sampleType: { type: 'weighted_samples', unit: 'millisamples' },
  },
  total_ns: { sql: 'sum(total_ns)', sampleType: { type: 'offcpu', unit: 'nanoseconds' } },
  blocks: { sql: 'sum(blocks)', sampleType: { type: 'blocks', unit: 'count' } },
};

const MAX_BACK_MS = 366 * 86_400_000;
const DURATION_PATTERN = '\\s*(\\d+(\\.\\d+)?(ns|us|ms|s|m|h))+\\s*';
const TIMESTAMP_PATTERN =
  '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})';

/** A point in time: a duration back from now, or an RFC 3339 timestamp; as Unix seconds or `now - s`. */
export type TimePoint = { ago: number } | { at: number };

function parseTimePoint(raw: string): TimePoint {
  if (new RegExp(`^${TIMESTAMP_PATTERN}$`).test(raw)) {
    const ms = Date.parse(raw);
    if (Number.isNaN(ms))
      throw new ValidationError('', `is not a valid time: ${JSON.stringify(raw)}`);
    return { at: Math.floor(ms / 1000) };
  }
  const ms = parseDuration('', raw, { minMs: 1_000, maxMs: MAX_BACK_MS });
  return { ago: Math.ceil(ms / 1000) };
}

/** `since` / `until`: text, checked as a duration or a timestamp; its meaning in the description. */
export function timePoint(description: string) {
  return z
    .string({ error: 'must be a duration such as 10m or an RFC 3339 time' })
    .superRefine((raw, ctx) => {
      try {
        parseTimePoint(raw);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        const reason = /must be a duration/.test(err.reason)
          ? `must be a duration such as 10m (1s to 366 days back) or an RFC 3339 time such as 2026-01-31T12:00:00Z, got ${JSON.stringify(raw)}`
          : err.reason;
        ctx.addIssue({ code: 'custom', message: reason, input: raw });
      }
    })
    .meta({ description, pattern: `^(${DURATION_PATTERN}|${TIMESTAMP_PATTERN})$` })
    .optional();
}

/** An integer; from a query string a string of digits, an empty value counting as absent. */
const integer = (min: number, max: number, description: string) =>
  queryInteger(min, max).meta({ description });

function choice<const T extends readonly [string, ...string[]]>(values: T, description: string) {
  return z
    .enum(values, {
      error: (iss) => `must be one of ${values.join(', ')}, got ${JSON.stringify(iss.input)}`,
    })
    .meta({ description });
}

/** Hosts: an array, or from a query string a comma-separated list. */
const hosts = z
  .preprocess(
    (raw) =>
      raw === '' ? undefined : typeof raw === 'string' ? raw.split(',').map((h) => h.trim()) : raw,
    z
      .array(z.string().regex(/^[A-Za-z0-9._-]{1,253}$/, 'must be a host name'), {
        error: 'must be a comma-separated list of host names',
      })
      .max(100, 'must be at most 100 host names')
      .optional(),
  )
  .optional()
  .meta({ description: 'only these hosts (comma-separated host names, at most 100)' });

/** The fields of a selection, for schemas that add their own (the REST route's format). */
export const SELECTION_FIELDS = {
  collector: choice(PROFILE_COLLECTORS, 'cpu_profile (on-CPU samples) or offcpu (blocked time)'),
  value: choice(
    ALL_VALUES,
    'what to sum: samples (default), cpu_ns or weighted (fleet estimate, in millisamples) for cpu_profile; total_ns (default) or blocks for offcpu',
  ).optional(),
  state: choice(BLOCKED_STATES, 'offcpu only: this blocked state').optional(),
  job_id: z
    .string({ error: 'must be a job id' })
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a job id (letters, digits, _ and -, at most 64)')
    .optional()
    .meta({ description: 'only rows of this job' }),
  hosts,
  uid: integer(0, 4294967295, 'only this user id'),
  pid: integer(0, 4294967295, 'only this process id'),
  comm: z
    .string({ error: 'must be a process name' })
    .regex(
      // eslint-disable-next-line no-control-regex -- refusing control characters is the point
      /^[^\u0000-\u001f]{1,15}$/,
      'must be a process name (1 to 15 characters, no control characters)',
    )
    .optional()
    .meta({ description: 'only this process name (exact, as the kernel cuts it: 15 characters)' }),
  since: timePoint(
    'from: a duration back from now (10m, 2h; 1h by default, at most 366 days) or an RFC 3339 time',
  ),
  until: timePoint('to: a duration back from now or an RFC 3339 time (now by default)'),
};

/** Cross-field checks: the value and state fit the collector, `until` is after `since`. */
export function checkSelection(
  s: {
    collector: ProfileCollector;
    value?: string;
    state?: string;
    since?: string;
    until?: string;
  },
  ctx: z.RefinementCtx,
): void {
  const values = PROFILE_VALUES[s.collector] as readonly string[] | undefined;
  if (!values) return; // the collector's own check says what is wrong
  if (s.value !== undefined && !values.includes(s.value))
    ctx.addIssue({
      code: 'custom',
      path: ['value'],
      message: `must be one of ${values.join(', ')} for ${s.collector}, got ${JSON.stringify(s.value)}`,
      input: s.value,
    });
  if (s.state !== undefined && s.collector !== 'offcpu')
    ctx.addIssue({
      code: 'custom',
      path: ['state'],
      message: 'applies to the offcpu collector only',
      input: s.state,
    });
  checkWindow(s.since, s.until, ctx);
}

/**
 * `until` later than `since` (each defaulting: since 1h, until now). `prefix`
 * places the issues under another object (`base` for a differential's
 * baseline window: `base.since`, `base.until`).
 */
export function checkWindow(
  sinceText: string | undefined,
  untilText: string | undefined,
  ctx: z.RefinementCtx,
  prefix: string[] = [],
): void {
  let since: number;
  let until: number;
  try {
    since = secondsAgo(parseTimePoint(sinceText ?? DEFAULT_SINCE));
    until = untilText === undefined ? 0 : secondsAgo(parseTimePoint(untilText));
  } catch {
    return; // the field's own check says what is wrong
  }
  if (until >= since)
    ctx.addIssue({
      code: 'custom',
      path: [...prefix, untilText === undefined ? 'since' : 'until'],
      message:
        untilText === undefined
          ? 'must be in the past'
          : `must be later than ${[...prefix, 'since'].join('.')} (${sinceText ?? DEFAULT_SINCE})`,
      input: untilText ?? sinceText,
    });
}

const DEFAULT_SINCE = '1h';
const secondsAgo = (p: TimePoint): number =>
  'ago' in p ? p.ago : Math.floor(Date.now() / 1000) - p.at;

export const Selection = z
  .strictObject(SELECTION_FIELDS)
  .superRefine((s, ctx) => checkSelection(s, ctx));

export type SelectionInput = z.input<typeof Selection>;
export type Selection = z.output<typeof Selection>;

/**
 * `raw` checked as a selection, or a ValidationError naming the first field
 * that is wrong (`uid: must be an integer, got "x"`).
 */
export function parseSelection(raw: unknown): Selection {
  const result = Selection.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const field =
    issue.code === 'unrecognized_keys'
      ? String(issue.keys[0])
      : issue.path
          .map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${String(k)}` : String(k)))
          .join('') || 'selection';
  const reason =
    issue.code === 'unrecognized_keys'
      ? `unknown field (known: ${Object.keys(SELECTION_FIELDS).join(', ')})`
      : issue.message;
  throw new ValidationError(field, reason);
}

// eslint-disable-next-line no-control-regex -- escaping control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g;

/** A ClickHouse string literal: backslash and quote escaped, control characters as \xHH. */
export function quoteString(value: string): string {
  const escaped = value
    .replace(/[\\']/g, (c) => `\\${c}`)
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `'${escaped}'`;
}

function timeCondition(column: string, op: '>=' | '<', p: TimePoint): string {
  return 'ago' in p
    ? `${column} ${op} now() - INTERVAL ${p.ago} SECOND`
    : `${column} ${op} toDateTime(${p.at}, 'UTC')`;
}

export function valueOf(selection: Selection): ProfileValue {
  return (selection.value ?? PROFILE_VALUES[selection.collector][0]) as ProfileValue;
}

export function sampleTypeOf(selection: Selection): SampleType {
  return VALUE_COLUMNS[valueOf(selection)].sampleType;
}

/**
 * The SQL of a selection: per stack, its frames root first (kernel frames
 * above user frames, as `arrayReverse` of the leaf-first columns gives them)
 * and the summed value. Copies of a batch delivered twice collapse (FINAL).
 * Rows whose stack was lost (`stack_id` empty) come as one stack per
 * `missing` reason (`lost_reason`) with no frames; a stack id without a
 * `stacks` row has no frames either: the caller names both (stack-rows.ts),
 * so that the totals stay those of the table.
 */
export function selectionSql(raw: Selection | SelectionInput): string {
  const s = parseSelection(raw);
  const value = VALUE_COLUMNS[valueOf(s)];
  const where = [
    timeCondition('time', '>=', parseTimePoint(s.since ?? DEFAULT_SINCE)),
    ...(s.until !== undefined ? [timeCondition('time', '<', parseTimePoint(s.until))] : []),
    ...(s.job_id !== undefined ? [`job_id = ${quoteString(s.job_id)}`] : []),
    ...(s.hosts?.length ? [`host IN (${s.hosts.map(quoteString).join(', ')})`] : []),
    ...(s.uid !== undefined ? [`uid = ${s.uid}`] : []),
    ...(s.pid !== undefined ? [`pid = ${s.pid}`] : []),
    ...(s.comm !== undefined ? [`comm = ${quoteString(s.comm)}`] : []),
    ...(s.state !== undefined ? [`state = ${quoteString(s.state)}`] : []),
  ];
  return [
    'SELECT p.stack_id AS stack_id, p.lost_reason AS lost_reason,',
    '       arrayReverse(arrayConcat(s.kernel_frames, s.user_frames)) AS frames, p.value AS value',
    'FROM',
    '(',
    `    SELECT stack_id, if(stack_id = '', missing, '') AS lost_reason, ${value.sql} AS value`,
    `    FROM fleettrace.${s.collector} FINAL`,
    `    WHERE ${where.join('\n      AND ')}`,
    '    GROUP BY stack_id, lost_reason',
    ') AS p',
    'LEFT JOIN',
    '(',
    '    SELECT stack_id, any(kernel_frames) AS kernel_frames, any(user_frames) AS user_frames',
    '    FROM fleettrace.stacks',
    // Only the stacks of the selection: the stacks table holds the fleet's.
    `    WHERE stack_id IN (SELECT stack_id FROM fleettrace.${s.collector} WHERE ${where.join(' AND ')})`,
    '    GROUP BY stack_id',
    ') AS s ON s.stack_id = p.stack_id',
    'ORDER BY p.stack_id, p.lost_reason',
  ].join('\n');
}
