// SPDX-License-Identifier: Apache-2.0
/**
 * Every bad input names its field: `collectors[1].params.hz: must be between 1 and 1000`.
 */
export class ValidationError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'ValidationError';
  }
}

/** A non-negative integer no larger than `max`, or a ValidationError naming `field`. */
export function parseInteger(field: string, raw: unknown, min: number, max: number): number {
  const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw new ValidationError(field, `must be an integer, got ${JSON.stringify(raw)}`);
  if (n < min || n > max)
    throw new ValidationError(field, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** HOST:PORT of a listener ([v6]:PORT too); the port may be 0 (any free one). */
export function parseListenAddress(field: string, raw: string): { host: string; port: number } {
  const colon = raw.lastIndexOf(':');
  const host = raw.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (colon <= 0 || host === '')
    throw new ValidationError(
      field,
      `expected HOST:PORT (e.g. 127.0.0.1:7423), got ${JSON.stringify(raw)}`,
    );
  return { host, port: parseInteger(field, raw.slice(colon + 1), 0, 65_535) };
}

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses "10s", "500ms", "2m", "1h30m" into milliseconds. */
export function parseDuration(
  field: string,
  raw: unknown,
  opts: { minMs?: number; maxMs?: number } = {},
): number {
  if (typeof raw !== 'string' || raw.trim() === '')
    throw new ValidationError(field, 'must be a duration such as 10s, 500ms or 2m');
  const text = raw.trim();
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw new ValidationError(
      field,
      `must be a duration such as 10s, 500ms or 2m, got ${JSON.stringify(raw)}`,
    );
  }
  const min = opts.minMs ?? 0;
  const max = opts.maxMs ?? Number.MAX_SAFE_INTEGER;
  if (total < min || total > max)
    throw new ValidationError(field, `must be between ${min}ms and ${max}ms, got ${total}ms`);
  return total;
}
