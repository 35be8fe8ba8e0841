// SPDX-License-Identifier: Apache-2.0
/**
 * Filters: validated job filters, the kernel-side filter a shared collector
 * instance runs with, and the exact per-job match in user space.
 *
 * One kernel instance of a collector serves every job that uses it, each with
 * its own filters. The kernel filter is a superset: per dimension, the union
 * of the subscribers' values when every subscriber constrains that dimension,
 * else no constraint. Rows are then matched exactly per job here.
 */
import { COMM_MAX_BYTES } from '@fleettrace/collector-spec';
import { resolveCgroupFilter, ValidationError } from '@fleettrace/common';
import { BpfObject, constant } from '@fleettrace/native';
import type { Filters } from './definition';
import { defines, layouts } from './shapes.gen';

// Checking filters is kernel-free (the controller does it too).
export { checkNeededFilters, COMM_MAX_BYTES, validateFilters } from '@fleettrace/collector-spec';

/** What the kernel side filters on; an absent dimension does not constrain. */
export interface KernelFilter {
  pids?: number[];
  uids?: number[];
  comms?: string[];
  /** kernfs ids, v1 memory ids tagged with bit 63 */
  cgroups?: bigint[];
  /**
   * Thread groups no subscriber sees (the agent and the processes it charges
   * to its jobs), at most SKIP_MAX; applied on top of the other dimensions.
   */
  skipPids?: number[];
}

/** Slots of ft_filter_cfg.skip_tgid. */
export const SKIP_MAX = defines.FT_FILTER_SKIP_MAX;

/** The smallest kernel filter that lets through everything any of `list` wants. */
export function kernelFilterFor(list: Filters[]): KernelFilter {
  if (list.length === 0) return {};
  const out: KernelFilter = {};
  if (list.every((f) => f.pid !== undefined))
    out.pids = [...new Set(list.map((f) => f.pid as number))];
  if (list.every((f) => f.uid !== undefined))
    out.uids = [...new Set(list.map((f) => f.uid as number))];
  if (list.every((f) => f.comm !== undefined))
    out.comms = [...new Set(list.map((f) => f.comm as string))];
  if (list.every((f) => f.cgroup !== undefined)) {
    out.cgroups = [
      ...new Set(
        list.map((f) => {
          const cg = resolveCgroupFilter('filters.cgroup', f.cgroup as string);
          return cg.v1 ? cg.id | defines.FT_CGROUP_V1 : cg.id;
        }),
      ),
    ];
  }
  return out;
}

const FLAG = {
  pids: defines.FT_FILTER_PID,
  uids: defines.FT_FILTER_UID,
  comms: defines.FT_FILTER_COMM,
  cgroups: defines.FT_FILTER_CGROUP,
  skip: defines.FT_FILTER_SKIP,
} as const;
const CFG = layouts.ft_filter_cfg;
const ONE = Buffer.from([1]);

function refill(obj: BpfObject, map: string, keys: Buffer[]): void {
  obj.dump(map, { delete: true });
  for (const k of keys) obj.update(map, k, ONE);
}

/**
 * Writes a kernel filter into the ft_filter* maps of a loaded object (see
 * bpf/include/ft_common.h). Call it before attaching; calling it again while
 * attached changes the filter in place. During a change the filter is briefly
 * wider, never narrower, so no subscriber misses an event.
 */
export function applyKernelFilter(obj: BpfObject, filter: KernelFilter): void {
  const capacity = (map: string, n: number) => {
    const max = obj.map(map).maxEntries;
    if (n > max)
      throw new ValidationError(
        'filters',
        `${n} values exceed the kernel filter's capacity of ${max}`,
      );
  };
  const skip = [...new Set(filter.skipPids ?? [])];
  if (skip.length > SKIP_MAX)
    throw new ValidationError(
      'filters',
      `${skip.length} processes to skip exceed the kernel filter's ${SKIP_MAX} slots`,
    );
  const setFlags = (flags: number) => {
    const v = Buffer.alloc(CFG.size);
    v.writeUInt32LE(flags, CFG.fields.flags.offset);
    if (flags & FLAG.skip)
      skip.forEach((p, i) => v.writeUInt32LE(p, CFG.fields.skip_tgid.offset + 4 * i));
    obj.update('ft_filter', constant.u32(0), v);
  };
  // Skipping stays on while the other dimensions are rewritten: wider, never narrower, than either.
  const skipFlag = skip.length ? FLAG.skip : 0;
  setFlags(skipFlag);
  let flags = skipFlag;
  if (filter.pids) {
    capacity('ft_filter_pids', filter.pids.length);
    refill(
      obj,
      'ft_filter_pids',
      filter.pids.map((p) => constant.u32(p)),
    );
    flags |= FLAG.pids;
  }
  if (filter.uids) {
    capacity('ft_filter_uids', filter.uids.length);
    refill(
      obj,
      'ft_filter_uids',
      filter.uids.map((u) => constant.u32(u)),
    );
    flags |= FLAG.uids;
  }
  if (filter.comms) {
    capacity('ft_filter_comms', filter.comms.length);
    refill(
      obj,
      'ft_filter_comms',
      filter.comms.map((c) => constant.chars(c, COMM_MAX_BYTES + 1)),
    );
    flags |= FLAG.comms;
  }
  if (filter.cgroups) {
    capacity('ft_filter_cgroups', filter.cgroups.length);
    refill(
      obj,
      'ft_filter_cgroups',
      filter.cgroups.map((c) => constant.u64(c)),
    );
    flags |= FLAG.cgroups;
  }
  setFlags(flags);
}

/** Identity fields a row carries for per-job matching. */
export interface RowIdentity {
  pid?: number;
  uid?: number;
  comm?: string;
  /** hierarchy path, as CgroupPaths reports it */
  cgroup?: string;
}

/**
 * Exact user-space match of a row against one job's filters. A cgroup filter
 * matches the cgroup and everything below it, as the kernel side does.
 */
export function rowMatches(row: RowIdentity, filters: Filters): boolean {
  if (filters.pid !== undefined && row.pid !== filters.pid) return false;
  if (filters.uid !== undefined && row.uid !== filters.uid) return false;
  if (filters.comm !== undefined && row.comm !== filters.comm) return false;
  if (filters.cgroup !== undefined) {
    const want = resolveCgroupFilter('filters.cgroup', filters.cgroup).path;
    const have = row.cgroup ?? '';
    if (want !== '/' && have !== want && !have.startsWith(want + '/')) return false;
  }
  return true;
}
