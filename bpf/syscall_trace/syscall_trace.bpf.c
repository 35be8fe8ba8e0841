// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscall_trace: one ring-buffer event per syscall of the filtered processes,
 * with the raw arguments, the return value, the duration and, for calls that
 * take a path, the path string. User space decodes and renders (strace -T -f).
 *
 * Paths are read at sys_exit: at sys_enter the page may not be faulted in yet.
 * execve is the exception: after a successful execve the old address space is
 * gone, so its path is read at entry. Which argument is a path comes from user
 * space (st_path_arg), the single table of the collector's TypeScript side.
 *
 * A per-CPU token bucket caps the event rate; calls it refuses are counted in
 * ft_st_lost[1], full ring buffers in ft_st_lost[0].
 */
#include "ft_common.h"
#include "ft_rate.h"
#include "syscall_trace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Argument index of a user path per syscall number, -1 for none. */
const volatile __s8 st_path_arg[ST_NR_MAX] = {};
/* 1 for syscalls whose path must be read at entry (execve, execveat). */
const volatile __u8 st_path_at_entry[ST_NR_MAX] = {};
/* Events per second per CPU in slot 0 (0: no limit), a map so that the agent can
 * tighten it while attached when a job exceeds its budget; see ft_rate.h. */
FT_RATE_MAPS(ft_st_rate, ft_st_bucket);

struct st_start {
	__u64 ts;
	__u64 args[6];
	__u32 nr;
	__u32 path_len;
	char path[ST_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct st_start);
} ft_st_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} ft_st_events SEC(".maps");

/* [0]: ring buffer full; [1]: refused by the rate limit */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} ft_st_lost SEC(".maps");

FT_BTF_EXPORT(struct st_event, event);

static __always_inline void st_lost(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&ft_st_lost, &slot);

	if (n)
		(*n)++;
}

static __always_inline bool st_admit(void)
{
	return ft_rate_admit(&ft_st_rate, &ft_st_bucket);
}

static __always_inline __s32 st_path_index(__u32 nr)
{
	if (nr >= ST_NR_MAX)
		return -1;
	return st_path_arg[nr];
}

static __always_inline __u32 st_read_path(char *dst, __u64 user_ptr)
{
	long n;

	if (!user_ptr)
		return 0;
	n = bpf_probe_read_user_str(dst, ST_PATH_LEN, (void *)user_ptr);
	return n > 0 ? n : 0;
}

SEC("raw_tp/sys_enter")
int ft_st_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	struct st_start *s;
	__s32 idx;
	__u32 nr;

	if (!ft_filter_task(task))
		return 0;
	s = bpf_task_storage_get(&ft_st_start, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return 0;
	nr = (__u32)ctx->args[1];
	s->nr = nr;
	/* x86_64 syscall arguments: rdi, rsi, rdx, r10, r8, r9 */
	s->args[0] = BPF_CORE_READ(regs, di);
	s->args[1] = BPF_CORE_READ(regs, si);
	s->args[2] = BPF_CORE_READ(regs, dx);
	s->args[3] = BPF_CORE_READ(regs, r10);
	s->args[4] = BPF_CORE_READ(regs, r8);
	s->args[5] = BPF_CORE_READ(regs, r9);
	s->path_len = 0;
	idx = st_path_index(nr);
	if (idx >= 0 && idx < 6 && nr < ST_NR_MAX && st_path_at_entry[nr])
		s->path_len = st_read_path(s->path, s->args[idx]);
	s->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("raw_tp/sys_exit")
int ft_st_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct st_start *s;
	struct st_event *e;
	__u64 now;
	__s32 idx;

	s = bpf_task_storage_get(&ft_st_start, task, 0, 0);
	if (!s || !s->ts)
		return 0;
	now = bpf_ktime_get_ns();
	if (!st_admit()) {
		s->ts = 0;
		st_lost(1);
		return 0;
	}
	e = bpf_ringbuf_reserve(&ft_st_events, sizeof(*e), 0);
	if (!e) {
		s->ts = 0;
		st_lost(0);
		return 0;
	}
	ft_fill_header_task(&e->hdr, task, 0);
	/* the event is stamped with the entry time, in the boot clock like every header */
	e->hdr.ts_ns -= now - s->ts;
	e->nr = s->nr;
	e->ret = (long)ctx->args[1];
	e->duration_ns = now - s->ts;
	__builtin_memcpy(e->args, s->args, sizeof(e->args));
	e->path_len = 0;
	idx = st_path_index(s->nr);
	if (idx >= 0 && idx < 6) {
		if (s->nr < ST_NR_MAX && st_path_at_entry[s->nr]) {
			e->path_len = s->path_len;
			bpf_probe_read_kernel(e->path, sizeof(e->path), s->path);
		} else {
			e->path_len = st_read_path(e->path, s->args[idx]);
		}
	}
	s->ts = 0;
	ft_ringbuf_submit(e, &ft_st_events);
	return 0;
}
