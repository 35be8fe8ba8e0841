// SPDX-License-Identifier: Apache-2.0
/**
 * Small checkers for JSON request bodies and query strings. Each throws a
 * ValidationError naming the field (`targets.sample: must be ...`), which the
 * exception filter turns into a 400.
 */
import { parseDuration, parseInteger, ValidationError } from '@fleettrace/common';

export type Json = Record<string, unknown>;

/** `raw` as a plain object whose keys are all in `allowed`; unknown keys are refused. */
export function objectWith(raw: unknown, field: string, allowed: readonly string[]): Json {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ValidationError(field || 'body', 'must be a JSON object');
  for (const k of Object.keys(raw)) {
    if (!allowed.includes(k))
      throw new ValidationError(join(field, k), `unknown field (known: ${allowed.join(', ')})`);
  }
  return raw as Json;
}

export function join(field: string, key: string): string {
  return field ? `${field}.${key}` : key;
}

export function optionalString(
  raw: unknown,
  field: string,
  opts: { max?: number; pattern?: RegExp; hint?: string } = {},
): string | undefined {
  if (raw === undefined) return undefined;
  return requiredString(raw, field, opts);
}

export function requiredString(
  raw: unknown,
  field: string,
  opts: { max?: number; pattern?: RegExp; hint?: string } = {},
): string {
  if (raw === undefined || raw === null) throw new ValidationError(field, 'is required');
  if (typeof raw !== 'string')
    throw new ValidationError(field, `must be a string, got ${typeof raw}`);
  if (raw === '') throw new ValidationError(field, 'must not be empty');
  const max = opts.max ?? 256;
  if (raw.length > max) throw new ValidationError(field, `must be at most ${max} characters`);
  if (opts.pattern && !opts.pattern.test(raw))
    throw new ValidationError(field, opts.hint ?? `has an invalid format: ${JSON.stringify(raw)}`);
  return raw;
}

export function optionalInteger(
  raw: unknown,
  field: string,
  min: number,
  max: number,
): number | undefined {
  return raw === undefined ? undefined : parseInteger(field, raw, min, max);
}

/** A duration as text ("30s", "5m"); numbers are refused so units are never guessed. */
export function optionalDuration(
  raw: unknown,
  field: string,
  opts: { minMs: number; maxMs: number },
): number | undefined {
  return raw === undefined ? undefined : parseDuration(field, raw, opts);
}

export function oneOf<T extends string>(raw: unknown, field: string, values: readonly T[]): T {
  if (typeof raw !== 'string' || !values.includes(raw as T))
    throw new ValidationError(
      field,
      `must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  return raw as T;
}

/** Query-string limit with a default. */
export function limitParam(raw: unknown, dflt: number, max: number): number {
  return raw === undefined || raw === '' ? dflt : parseInteger('limit', raw, 1, max);
}
