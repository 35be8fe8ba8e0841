// SPDX-License-Identifier: Apache-2.0
/**
 * Building blocks of the REST request schemas (zod 4) and the one function
 * that applies them. A schema is the single statement of a request's shape:
 * the server validates with it, and the OpenAPI document is generated from it
 * (z.toJSONSchema), so a bound checked here is a bound documented there.
 *
 * Every check carries its reason in the API's `field: reason` form; the
 * field is the issue's path (`collectors[1].params.hz`). Checks a JSON Schema
 * cannot state (a duration's range, a glob's brackets) run inside the schema
 * as refinements with the same reasons, and are described in the document.
 */
import { z } from 'zod';
import { parseDuration, ValidationError } from '@fleettrace/common';

/**
 * `raw` checked against `schema`, or a ValidationError for the first issue.
 * Unknown fields are reported before other issues, shallowest first, as the
 * field-by-field validators did: a typo in a name is the likeliest cause of
 * whatever else is wrong. `root` names the whole value (`body`).
 */
export function parseRequest<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  root = 'body',
): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issues = [...result.error.issues].sort(
    (a, b) => unknownRank(a) - unknownRank(b), // stable: zod's order otherwise
  );
  const issue = issues[0] as z.core.$ZodIssue;
  if (issue.code === 'unrecognized_keys')
    throw new ValidationError(
      fieldOf([...issue.path, issue.keys[0] as string], root),
      issue.message,
    );
  // A record's key failed: the reason is the key schema's own.
  if (issue.code === 'invalid_key')
    throw new ValidationError(fieldOf(issue.path, root), issue.issues[0]?.message ?? issue.message);
  throw new ValidationError(fieldOf(issue.path, root), issue.message);
}

function unknownRank(issue: z.core.$ZodIssue): number {
  return issue.code === 'unrecognized_keys' ? issue.path.length : Number.MAX_SAFE_INTEGER;
}

/** `targets.hosts[0]`, `collectors[1].params.hz`; `root` for the value itself. */
export function fieldOf(path: ReadonlyArray<PropertyKey>, root = 'body'): string {
  if (path.length === 0) return root;
  return path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join('');
}

/**
 * A JSON object with exactly these fields: unknown ones are refused rather
 * than ignored, so a typo never silently widens a request. `missing` is the
 * reason when the object itself is absent (and required).
 */
export function fields<S extends z.ZodRawShape>(
  shape: S,
  opts: { missing?: string; unknown?: (key: string) => string | undefined } = {},
) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys')
        return opts.unknown?.(iss.keys[0] as string) ?? `unknown field (known: ${known})`;
      if (iss.input === undefined && opts.missing) return opts.missing;
      return 'must be a JSON object';
    },
  });
}

/** A non-empty string of at most `max` characters (256 unless told), optionally of a pattern. */
export function text(opts: { max?: number; pattern?: RegExp; hint?: string } = {}) {
  const max = opts.max ?? 256;
  const s = z
    .string({
      error: (iss) =>
        iss.input === undefined || iss.input === null
          ? 'is required'
          : `must be a string, got ${typeof iss.input}`,
    })
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);
  const { pattern, hint } = opts;
  return pattern
    ? s.regex(pattern, {
        error: (iss) => hint ?? `has an invalid format: ${JSON.stringify(iss.input)}`,
      })
    : s;
}

/** One of `values`. */
export function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (iss) => `must be one of ${values.join(', ')}, got ${JSON.stringify(iss.input)}`,
  });
}

/** Integers of queries and bodies: one definition with the profile selection's. */
export { queryInteger as integer, jsonInteger } from '@fleettrace/collector-spec';

/** What parseDuration accepts; stated in the document, checked by parseDuration itself. */
const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?(ns|us|ms|s|m|h))+\\s*$';

/**
 * A duration as text ("30s", "5m", "1h30m"); numbers are refused so units
 * are never guessed. Its range cannot be a JSON Schema bound on a string, so
 * the document carries it as `x-minimum-ms` / `x-maximum-ms`.
 */
export function duration(minMs: number, maxMs: number, description: string) {
  return z
    .string({ error: 'must be a duration such as 10s, 500ms or 2m' })
    .check(satisfies((raw) => parseDuration('', raw, { minMs, maxMs })))
    .meta({
      description,
      pattern: DURATION_PATTERN,
      'x-minimum-ms': minMs,
      'x-maximum-ms': maxMs,
    });
}

/**
 * A refinement from a checker that throws ValidationError: its reason
 * becomes the issue's message, at the value's own path.
 */
export function satisfies<T>(check: (value: T) => unknown) {
  return z.superRefine<T>((value, ctx) => {
    try {
      check(value);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.reason, input: value });
    }
  });
}
