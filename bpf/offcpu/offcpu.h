/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps of the `offcpu` collector, shared with user space through BTF. */
#ifndef FT_OFFCPU_H
#define FT_OFFCPU_H

#define OC_MAX_FRAMES 127

/* Blocked states as reported (not the kernel's bit values). */
enum oc_state {
	OC_INTERRUPTIBLE = 1,   /* S: waiting for an event (sleep, poll, lock, ...) */
	OC_UNINTERRUPTIBLE = 2, /* D: usually I/O or a kernel lock; counts in the load average */
	OC_IDLE = 3,            /* D with TASK_NOLOAD: idle kernel workers, not load */
	OC_OTHER = 4,           /* stopped, traced, ... */
};

struct oc_key {
	__u32 pid;
	__u32 uid;
	__u32 state;
	__s32 kernel_stack; /* id in ft_oc_stacks, or -errno when not captured or lost */
	__s32 user_stack;
	__u32 pad;
};

struct oc_value {
	__u64 total_ns;
	__u64 blocks;
	__u64 max_ns;
	__u64 cgroup;
	char comm[16];
};

#endif /* FT_OFFCPU_H */
