// SPDX-License-Identifier: Apache-2.0
/**
 * Collector parameters as a declarative schema (zod, the project's one
 * schema library): each parameter says its type, bounds, default and meaning
 * once, and from that come the check (the same `field.param: reason`
 * messages everywhere: the controller's API, the agent, `fleettrace trace`)
 * and the JSON Schema the REST API documents. Values arrive as JSON values
 * from the API or as strings from the wire (map<string, string>) and the
 * command line, so every parameter accepts both.
 */
import { parseDuration, parseInteger, ValidationError } from '@fleettrace/common';
import { z } from 'zod';

export { z };

/** What a parameter schema is: any zod type whose input may be absent. */
export type ParamSchema = z.ZodType;

/** The parameters of a collector: a strict object (unknown names are refused). */
export type ParamsSchema = z.ZodType<unknown, Record<string, unknown>>;

class Bad extends Error {}

function param<T>(
  meta: Record<string, unknown> & { description: string },
  dflt: T,
  parse: (raw: unknown) => T,
) {
  return z
    .unknown()
    .optional()
    .transform((raw, ctx): T => {
      if (raw === undefined) return dflt;
      try {
        return parse(raw);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .meta({
      ...meta,
      description: `${meta.description} (default ${Array.isArray(dflt) ? dflt.join(',') || 'none' : String(dflt)})`,
    });
}

/** The reason of a check from @fleettrace/common that names its own field. */
function reasonOf<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw new Bad(err instanceof ValidationError ? err.reason : (err as Error).message);
  }
}

/** Builders of parameter schemas. */
export const p = {
  /** an integer in [min, max]; `powerOfTwo` for ring and map sizes */
  integer(o: { min: number; max: number; default: number; doc: string; powerOfTwo?: boolean }) {
    return param(
      { type: 'integer', minimum: o.min, maximum: o.max, description: o.doc },
      o.default,
      (raw) => {
        const n = reasonOf(() => parseInteger('', raw, o.min, o.max));
        if (o.powerOfTwo && (n & (n - 1)) !== 0) throw new Bad('must be a power of two');
        return n;
      },
    );
  },
  /** true or false (also "true", "false", 1, 0 as text) */
  boolean(o: { default: boolean; doc: string }) {
    return param({ type: 'boolean', description: o.doc }, o.default, (raw) => {
      if (raw === true || raw === 'true' || raw === '1') return true;
      if (raw === false || raw === 'false' || raw === '0') return false;
      throw new Bad(`must be true or false, got ${JSON.stringify(raw)}`);
    });
  },
  /** a duration such as 10ms or 1s, as milliseconds */
  duration(o: { maxMs: number; default: number; doc: string }) {
    return param(
      { type: 'string', pattern: '^([0-9.]+(ns|us|ms|s|m|h))+$', description: o.doc },
      o.default,
      (raw) => reasonOf(() => parseDuration('', raw, { maxMs: o.maxMs })),
    );
  },
  /** a list of names from `values`, as an array or comma-separated text */
  names<V extends string>(o: { values: readonly V[]; default: V[]; doc: string }) {
    return param(
      { type: ['array', 'string'], items: { enum: [...o.values] }, description: o.doc },
      o.default,
      (raw) => {
        const list = Array.isArray(raw) ? raw.map(String) : String(raw).split(',');
        return list.map((s, i) => {
          if (!(o.values as readonly string[]).includes(s))
            throw new Bad(`[${i}]: must be one of ${o.values.join(', ')}`);
          return s as V;
        });
      },
    );
  },
  /**
   * One string, checked by `check` (which throws with the reason); without a
   * default the parameter is required.
   */
  string(o: { default?: string; doc: string; check?: (s: string) => void }) {
    return z
      .unknown()
      .optional()
      .transform((raw, ctx): string => {
        if (raw === undefined) {
          if (o.default !== undefined) return o.default;
          ctx.addIssue({ code: 'custom', message: 'required' });
          return z.NEVER;
        }
        if (typeof raw !== 'string') {
          ctx.addIssue({ code: 'custom', message: 'must be a string' });
          return z.NEVER;
        }
        try {
          o.check?.(raw);
          return raw;
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      })
      .meta({
        type: 'string',
        description:
          o.default === undefined
            ? `${o.doc} (required)`
            : `${o.doc} (default ${o.default === '' ? 'none' : o.default})`,
      });
  },
  /** a list of strings (one string is a list of one) */
  strings(o: { doc: string; check?: (list: string[]) => void }) {
    return param(
      { type: ['array', 'string'], items: { type: 'string' }, description: o.doc },
      [] as string[],
      (raw) => {
        const list = Array.isArray(raw) ? raw : [raw];
        list.forEach((s, i) => {
          if (typeof s !== 'string') throw new Bad(`[${i}]: must be a string`);
        });
        o.check?.(list as string[]);
        return list as string[];
      },
    );
  },
};

/**
 * Checks raw parameters against a collector's schema. Errors name the field
 * as `${field}.<param>`; an unknown name is `unknown parameter of <collector>`.
 */
export function parseParamsWith<T>(
  schema: z.ZodType<T>,
  collector: string,
  raw: Record<string, unknown>,
  field: string,
): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    throw new ValidationError(`${field}.${issue.keys[0]}`, `unknown parameter of ${collector}`);
  const where = [field, ...issue.path.map(String)].join('.');
  // A list element's position comes first in the message: `states[1]: must be ...`.
  const element = /^\[(\d+)\]: (.*)$/s.exec(issue.message);
  if (element) throw new ValidationError(`${where}[${element[1]}]`, element[2]!);
  throw new ValidationError(where, issue.message);
}

/** The JSON Schema of a collector's parameters, for the API's documentation. */
export function paramsJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete out.$schema;
  return out;
}
