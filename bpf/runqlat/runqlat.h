/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps of the `runqlat` collector, shared with user space through BTF. */
#ifndef FT_RUNQLAT_H
#define FT_RUNQLAT_H

#define RQ_HIST_SLOTS 36 /* log2 ns, as syscalls */

struct rq_key {
	__u32 uid;
	__u32 pad;
	__u64 cgroup;
};

/* One per-CPU slot. */
struct rq_value {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u32 hist[RQ_HIST_SLOTS];
};

#endif /* FT_RUNQLAT_H */
