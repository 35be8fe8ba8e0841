/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Events of the `proc` collector, shared with user space through BTF. */
#ifndef FT_PROC_H
#define FT_PROC_H

#include "ft_event.h"

#define PROC_FILENAME_LEN 256
#define PROC_ARGS_LEN 1024

enum proc_kind {
	PROC_EXEC = 1,
	PROC_EXIT = 2,
	PROC_FORK = 3,
	PROC_SIGNAL = 4,
	PROC_OOM = 5,
};

/* Header: the task after exec. args: argv, NUL-separated, as the process laid it out. */
struct proc_exec_event {
	struct ft_event_header hdr;
	__u32 ppid;
	__u32 args_size;      /* bytes of args used */
	__u32 args_truncated; /* 1 when argv was longer than PROC_ARGS_LEN */
	__u32 pad;
	char filename[PROC_FILENAME_LEN];
	char args[PROC_ARGS_LEN];
};

/* Header: the exiting process (its last thread). */
struct proc_exit_event {
	struct ft_event_header hdr;
	__u32 ppid;
	__u32 exit_code;  /* task->exit_code: status << 8, or the signal | 0x80 on core dump */
	__u64 lifetime_ns;
};

/* Header: the parent. */
struct proc_fork_event {
	struct ft_event_header hdr;
	__u32 child_pid;
	__u32 pad;
};

/* Header: the sender (the current task); the target's identity follows. */
struct proc_signal_event {
	struct ft_event_header hdr;
	__u32 sig;
	__s32 result;     /* TRACE_SIGNAL_*: 0 delivered, 1 ignored, 2 already pending, ... */
	__u32 target_pid;
	__u32 target_tid;
	__u32 target_uid;
	__u32 pad;
	__u64 target_cgroup;
	char target_comm[16];
};

/* Header: the victim, never the allocating task the tracepoint runs in. */
struct proc_oom_event {
	struct ft_event_header hdr;
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__u32 trigger_pid; /* the task whose allocation invoked the OOM killer */
	__u32 pad;
	char trigger_comm[16];
};

#endif /* FT_PROC_H */
