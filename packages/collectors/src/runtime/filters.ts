// SPDX-License-Identifier: Apache-2.0
import { parseInteger, resolveCgroupFilter, ValidationError } from '@fleettrace/common';
import { BpfObject, constant } from '@fleettrace/native';
import type { Filters } from './definition';

/** The kernel keeps 15 bytes of a command name (TASK_COMM_LEN 16 with the NUL). */
export const COMM_MAX_BYTES = 15;

/** Validates filters, naming the offending field (prefixed with `field`). */
export function validateFilters(filters: Filters, field = 'filters'): Filters {
  const out: Filters = {};
  if (filters.pid !== undefined) out.pid = parseInteger(`${field}.pid`, filters.pid, 1, 4_194_304);
  if (filters.uid !== undefined)
    out.uid = parseInteger(`${field}.uid`, filters.uid, 0, 4_294_967_294);
  if (filters.comm !== undefined) {
    if (typeof filters.comm !== 'string' || filters.comm === '')
      throw new ValidationError(`${field}.comm`, 'must be a non-empty string');
    if (Buffer.byteLength(filters.comm) > COMM_MAX_BYTES) {
      throw new ValidationError(
        `${field}.comm`,
        `must be at most ${COMM_MAX_BYTES} bytes: the kernel keeps only that much of a command name`,
      );
    }
    out.comm = filters.comm;
  }
  if (filters.cgroup !== undefined) {
    resolveCgroupFilter(`${field}.cgroup`, filters.cgroup);
    out.cgroup = filters.cgroup;
  }
  return out;
}

/** Writes filters into the ft_filter_* constants of bpf/include/ft_common.h. Before load. */
export function applyFilters(obj: BpfObject, filters: Filters): void {
  if (filters.pid !== undefined) obj.setConstant('ft_filter_pid', constant.u32(filters.pid));
  if (filters.uid !== undefined) {
    obj.setConstant('ft_filter_uid', constant.u32(filters.uid));
    obj.setConstant('ft_filter_uid_set', constant.u8(1));
  }
  if (filters.comm !== undefined)
    obj.setConstant('ft_filter_comm', constant.chars(filters.comm, COMM_MAX_BYTES + 1));
  if (filters.cgroup !== undefined) {
    const cg = resolveCgroupFilter('filters.cgroup', filters.cgroup);
    obj.setConstant('ft_filter_cgroup', constant.u64(cg.id));
    obj.setConstant('ft_filter_cgroup_v1', constant.u8(cg.v1 ? 1 : 0));
  }
}
