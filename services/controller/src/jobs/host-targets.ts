// SPDX-License-Identifier: Apache-2.0
/**
 * Which hosts a job targets: host names or shell-style globs (`*`, `?`,
 * `[a-z]`, `[!0-9]`), labels that must all match, and a sample fraction of
 * the matching hosts.
 */
import { ValidationError } from '@fleettrace/common';

export interface Targets {
  hosts?: string[];
  labels?: Record<string, string>;
  /** fraction of matching hosts, 0 < sample <= 1 */
  sample?: number;
}

export interface TargetHost {
  hostname: string;
  labels: Record<string, string>;
}

/** A host name as agents report it: RFC 1123 labels separated by dots. */
export const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$/;

export const HOST_CHARS = /^[A-Za-z0-9._\-*?[\]!]+$/;

/** Compiles a host glob to an anchored RegExp; errors name `field`. */
export function compileHostGlob(glob: string, field: string): RegExp {
  if (!HOST_CHARS.test(glob))
    throw new ValidationError(
      field,
      `must be a host name or glob of letters, digits, . _ - and * ? [ ], got ${JSON.stringify(glob)}`,
    );
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '[^]*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close === -1)
        throw new ValidationError(
          field,
          `unclosed [ at position ${i + 1} in ${JSON.stringify(glob)}`,
        );
      let body = glob.slice(i + 1, close);
      let negate = false;
      if (body.startsWith('!')) {
        negate = true;
        body = body.slice(1);
      }
      if (body === '')
        throw new ValidationError(
          field,
          `empty [] at position ${i + 1} in ${JSON.stringify(glob)}`,
        );
      if (/[[*?!]/.test(body))
        throw new ValidationError(
          field,
          `[...] at position ${i + 1} may hold only characters and ranges such as a-z`,
        );
      const range = /^(.)-(.)$/;
      for (let j = 0; j < body.length; j++) {
        if (body[j + 1] === '-' && body[j + 2] !== undefined) {
          const m = range.exec(body.slice(j, j + 3));
          if (m && (m[1] as string) > (m[2] as string))
            throw new ValidationError(
              field,
              `range ${m[0]} is backwards in ${JSON.stringify(glob)}`,
            );
          j += 2;
        }
      }
      re += `[${negate ? '^' : ''}${body.replace(/[\\^\]]/g, '\\$&')}]`;
      i = close;
    } else if (c === ']')
      throw new ValidationError(
        field,
        `unmatched ] at position ${i + 1} in ${JSON.stringify(glob)}`,
      );
    else if (c === '!')
      throw new ValidationError(
        field,
        `! is only allowed right after [ in ${JSON.stringify(glob)}`,
      );
    else re += c.replace(/[.\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

/** Label keys as Kubernetes spells them (optional DNS prefix, then a name); values likewise. */
export const LABEL_KEY =
  /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

/** Why a label key is refused (enrollment and the job spec's schema say the same). */
export const labelKeyReason = (key: unknown): string =>
  `label key ${JSON.stringify(key)} must be letters, digits, . _ - (at most 63, starting and ending alphanumeric), optionally after a DNS prefix and /`;

/** Why a label value is refused. */
export const labelValueReason = (value: unknown): string =>
  `label value ${JSON.stringify(value)} must be at most 63 letters, digits, . _ -, starting and ending alphanumeric`;

export function validateLabel(key: string, value: unknown, field: string): string {
  if (!LABEL_KEY.test(key)) throw new ValidationError(field, labelKeyReason(key));
  if (typeof value !== 'string')
    throw new ValidationError(field, `must be a string, got ${typeof value}`);
  if (!LABEL_VALUE.test(value)) throw new ValidationError(field, labelValueReason(value));
  return value;
}

export class TargetMatcher {
  private readonly globs: RegExp[] | undefined;

  constructor(private readonly targets: Targets) {
    this.globs = targets.hosts?.map((h, i) => compileHostGlob(h, `targets.hosts[${i}]`));
  }

  matches(host: TargetHost): boolean {
    if (this.globs && !this.globs.some((g) => g.test(host.hostname))) return false;
    for (const [k, v] of Object.entries(this.targets.labels ?? {}))
      if (host.labels[k] !== v) return false;
    return true;
  }
}

/** A uniformly random subset of `round(p × n)` items (at least one when n > 0). */
export function sampleOf<T>(items: T[], p: number): T[] {
  if (p >= 1 || items.length === 0) return items;
  const k = Math.max(1, Math.round(p * items.length));
  const a = [...items];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a.slice(0, k);
}
