/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps of the `uprobe` collector, shared with user space through BTF. */
#ifndef FT_UPROBE_H
#define FT_UPROBE_H

#define UP_HIST_SLOTS 36 /* log2 ns, as syscalls */

struct up_key {
	__u32 pid;
	__u32 uid;
	char comm[16];
};

/* One per-CPU slot; cgroup is filled in the slot of the CPU that created the key. */
struct up_value {
	__u64 calls;	/* entries */
	__u64 returns;	/* returns timed: total_ns, max_ns and hist cover these */
	__u64 total_ns;
	__u64 max_ns;
	__u64 cgroup;
	__u32 hist[UP_HIST_SLOTS];
};

#endif /* FT_UPROBE_H */
