// SPDX-License-Identifier: Apache-2.0
/**
 * Job filters as the API, the agent and `fleettrace trace` accept them,
 * checked the same way everywhere (kernel-free: the kernel-side filter is in
 * @fleettrace/collectors' runtime).
 */
import { parseInteger, resolveCgroupFilter, ValidationError } from '@fleettrace/common';

/** In-kernel filters, applied before load. Unset fields do not filter. */
export interface Filters {
  /** thread-group id */
  pid?: number;
  uid?: number;
  /** command name as the kernel keeps it (at most 15 bytes) */
  comm?: string;
  /** a cgroup path: absolute under a cgroup mount, or a hierarchy path such as /site1 */
  cgroup?: string;
}

/** PID_MAX_LIMIT on 64-bit kernels (include/linux/threads.h) */
export const PID_MAX = 4_194_304;
/** (uid_t)-1 means "no uid" to the kernel */
export const UID_MAX = 4_294_967_294;

/** Filters of which a collector needs at least one, and why. */
export interface NeededFilter {
  oneOf: ReadonlyArray<keyof Filters>;
  why: string;
}

/** The kernel keeps 15 bytes of a command name (TASK_COMM_LEN 16 with the NUL). */
export const COMM_MAX_BYTES = 15;

/**
 * A filter's integer: a number, never a string of digits. Filters arrive as
 * JSON from the API; "1" for 1 is a client bug better refused than guessed.
 */
function filterInteger(field: string, raw: unknown, min: number, max: number): number {
  if (typeof raw !== 'number')
    throw new ValidationError(
      field,
      `must be an integer (a JSON number), got ${JSON.stringify(raw)}`,
    );
  return parseInteger(field, raw, min, max);
}

/** Validates filters, naming the offending field (prefixed with `field`). */
export function validateFilters(filters: Filters, field = 'filters'): Filters {
  const out: Filters = {};
  // PID_MAX_LIMIT on 64-bit kernels (include/linux/threads.h)
  if (filters.pid !== undefined) out.pid = filterInteger(`${field}.pid`, filters.pid, 1, PID_MAX);
  if (filters.uid !== undefined) out.uid = filterInteger(`${field}.uid`, filters.uid, 0, UID_MAX);
  if (filters.comm !== undefined) {
    if (typeof filters.comm !== 'string' || filters.comm === '') {
      throw new ValidationError(`${field}.comm`, 'must be a non-empty string');
    }
    // The kernel's comm is a NUL-terminated byte array: a NUL would cut the
    // filter short, and control characters would reach terminals and logs.
    if ([...filters.comm].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
      throw new ValidationError(`${field}.comm`, 'must not contain NUL or control characters');
    }
    if (Buffer.byteLength(filters.comm) > COMM_MAX_BYTES) {
      throw new ValidationError(
        `${field}.comm`,
        `must be at most ${COMM_MAX_BYTES} bytes: the kernel keeps only that much of a command name`,
      );
    }
    out.comm = filters.comm;
  }
  if (filters.cgroup !== undefined) {
    if (typeof filters.cgroup !== 'string')
      throw new ValidationError(`${field}.cgroup`, 'must be a string');
    resolveCgroupFilter(`${field}.cgroup`, filters.cgroup);
    out.cgroup = filters.cgroup;
  }
  return out;
}

/**
 * Refuses filters that a collector cannot run without (its needsFilter),
 * naming the filters field and the collector (`collectors[i]`).
 */
export function checkNeededFilters(
  list: ReadonlyArray<{ name: string; needsFilter?: NeededFilter }>,
  filters: Filters,
  field = 'filters',
): void {
  list.forEach((def, i) => {
    const need = def.needsFilter;
    if (!need || need.oneOf.some((f) => filters[f] !== undefined)) return;
    throw new ValidationError(
      field,
      `collector ${def.name} (collectors[${i}]) needs a ${need.oneOf.join(' or ')} filter: ${need.why}`,
    );
  });
}
