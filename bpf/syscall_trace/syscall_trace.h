/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The per-call event of the `syscall_trace` collector, shared with user space through BTF. */
#ifndef FT_SYSCALL_TRACE_H
#define FT_SYSCALL_TRACE_H

#include "ft_event.h"

#define ST_PATH_LEN 256
#define ST_NR_MAX 512

/* Header: the calling thread; ts_ns is the syscall's entry. */
struct st_event {
	struct ft_event_header hdr;
	__u32 nr;
	__u32 path_len;       /* bytes of path including the NUL; 0 when none was read */
	__s64 ret;
	__u64 duration_ns;
	__u64 args[6];
	char path[ST_PATH_LEN];
};

#endif /* FT_SYSCALL_TRACE_H */
