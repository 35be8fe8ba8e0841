/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps of the `biolatency` collector, shared with user space through BTF. */
#ifndef FT_BIOLATENCY_H
#define FT_BIOLATENCY_H

#define BL_HIST_SLOTS 36 /* log2 ns, as syscalls */

/* The operation, from the request's REQ_OP (the low 8 bits of cmd_flags). */
enum bl_op {
	BL_READ = 0,
	BL_WRITE = 1,
	BL_FLUSH = 2,
	BL_DISCARD = 3,
	BL_OTHER = 4,
};

struct bl_key {
	__u32 major;
	__u32 minor; /* the disk's first minor */
	__u32 op;    /* enum bl_op */
	__u32 uid;   /* the task that issued the request to the driver */
};

/* One per-CPU slot. */
struct bl_value {
	__u64 count;
	__u64 bytes;
	__u64 total_ns;
	__u64 max_ns;
	__u32 hist[BL_HIST_SLOTS];
};

#endif /* FT_BIOLATENCY_H */
