/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The header that starts every ring-buffer event. Fixed-width fields only:
 * the TypeScript decoder's layout is generated from this object's BTF.
 */
#ifndef FT_EVENT_H
#define FT_EVENT_H

#define FT_COMM_LEN 16

/* Set in a cgroup value when the id belongs to the v1 memory hierarchy. */
#define FT_CGROUP_V1 (1ULL << 63)

struct ft_event_header {
	__u64 ts_ns;   /* bpf_ktime_get_boot_ns(); user space adds its REALTIME offset */
	__u64 cgroup;  /* see ft_task_cgroup() */
	__u32 pid;     /* thread-group id */
	__u32 tid;
	__u32 uid;
	__u32 kind;    /* collector-specific event type */
	char comm[FT_COMM_LEN];
};

#endif /* FT_EVENT_H */
