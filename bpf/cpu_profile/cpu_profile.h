/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps and events of the `cpu_profile` collector, shared with user space through BTF. */
#ifndef FT_CPU_PROFILE_H
#define FT_CPU_PROFILE_H

#include "ft_event.h"

#define CP_MAX_FRAMES 127   /* PERF_MAX_STACK_DEPTH */
#define CP_STREAM_FRAMES 64 /* frames per stack in the per-sample stream */

enum cp_event_kind {
	CP_NEW_ADDRESS_SPACE = 1, /* first sample of a (process, mm): record its mappings now */
	CP_SAMPLE = 2,            /* one sample of the per-sample stream */
};

struct cp_key {
	__u32 pid;
	__u32 uid;
	__u64 cgroup;
	__s32 kernel_stack; /* stack-map id, or -errno when not captured */
	__s32 user_stack;
};

struct cp_value {
	__u64 samples;
	char comm[16];
};

struct cp_event {
	struct ft_event_header hdr;
	__u32 cpu;
	__u32 kernel_frames; /* valid entries in kernel_ips, stream samples only */
	__u32 user_frames;
	__u32 pad;
	__u64 kernel_ips[CP_STREAM_FRAMES];
	__u64 user_ips[CP_STREAM_FRAMES];
};

#endif /* FT_CPU_PROFILE_H */
