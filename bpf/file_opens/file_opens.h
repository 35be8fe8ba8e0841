/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The event of the `file_opens` collector, shared with user space through BTF. */
#ifndef FT_FILE_OPENS_H
#define FT_FILE_OPENS_H

#include "ft_event.h"

#define FO_PATH_LEN 256

/* Which call opened the file (ft_event_header.kind). */
enum fo_call {
	FO_OPENAT = 0,
	FO_OPENAT2 = 1,
	FO_OPEN = 2,
	FO_CREAT = 3,
};

/* Header: the opening thread; ts_ns is the call's entry. */
struct fo_event {
	struct ft_event_header hdr;
	__u64 flags;	      /* O_* as the call got them (creat: O_CREAT|O_WRONLY|O_TRUNC) */
	__s64 ret;	      /* the fd, or -errno */
	__u64 duration_ns;
	__s32 dfd;	      /* the directory a relative path is relative to (AT_FDCWD: -100) */
	__u32 mode;
	__u32 path_len;	      /* bytes read including the NUL; 0 when the path could not be read */
	__u32 pad;
	char path[FO_PATH_LEN];
};

#endif /* FT_FILE_OPENS_H */
