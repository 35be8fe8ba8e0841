// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * file_opens: one ring-buffer event per open(2), openat(2), openat2(2) and
 * creat(2) of the filtered tasks: path, flags, mode, the fd or errno, and the
 * time in the call. Only the open syscalls' own tracepoints are hooked, so
 * other syscalls pay nothing. The path is read at exit (at entry its page may
 * not be faulted in yet). io_uring opens (IORING_OP_OPENAT) do not pass
 * through these syscalls and are not seen. A per-CPU token bucket caps the
 * event rate (ft_rate.h); refused calls are counted in ft_fo_lost[1], full
 * ring buffers in ft_fo_lost[0].
 */
#include "ft_common.h"
#include "ft_rate.h"
#include "file_opens.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FO_AT_FDCWD -100
#define FO_CREAT_FLAGS 01101 /* O_CREAT | O_WRONLY | O_TRUNC */

FT_RATE_MAPS(ft_fo_rate, ft_fo_bucket);

struct fo_start {
	__u64 ts;
	__u64 filename;
	__u64 flags;
	__s32 dfd;
	__u32 mode;
	__u32 call;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fo_start);
} ft_fo_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} ft_fo_events SEC(".maps");

/* [0]: ring buffer full; [1]: refused by the rate limit */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} ft_fo_lost SEC(".maps");

FT_BTF_EXPORT(struct fo_event, event);

static __always_inline void fo_lost(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&ft_fo_lost, &slot);

	if (n)
		(*n)++;
}

static __always_inline void fo_enter(__u32 call, __s32 dfd, __u64 filename, __u64 flags, __u32 mode)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fo_start *s;

	if (!ft_filter_task(task))
		return;
	s = bpf_task_storage_get(&ft_fo_start, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return;
	s->call = call;
	s->dfd = dfd;
	s->filename = filename;
	s->flags = flags;
	s->mode = mode;
	s->ts = bpf_ktime_get_ns();
}

static __always_inline void fo_exit(long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fo_start *s;
	struct fo_event *e;
	long n;
	__u64 now;

	s = bpf_task_storage_get(&ft_fo_start, task, 0, 0);
	if (!s || !s->ts)
		return;
	now = bpf_ktime_get_ns();
	if (!ft_rate_admit(&ft_fo_rate, &ft_fo_bucket)) {
		s->ts = 0;
		fo_lost(1);
		return;
	}
	e = bpf_ringbuf_reserve(&ft_fo_events, sizeof(*e), 0);
	if (!e) {
		s->ts = 0;
		fo_lost(0);
		return;
	}
	ft_fill_header_task(&e->hdr, task, s->call);
	e->hdr.ts_ns -= now - s->ts;
	e->flags = s->flags;
	e->ret = ret;
	e->duration_ns = now - s->ts;
	e->dfd = s->dfd;
	e->mode = s->mode;
	e->pad = 0;
	n = s->filename ? bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)s->filename) : 0;
	e->path_len = n > 0 ? n : 0;
	s->ts = 0;
	ft_ringbuf_submit(e, &ft_fo_events);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int ft_fo_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	fo_enter(FO_OPENAT, (__s32)ctx->args[0], ctx->args[1], ctx->args[2], (__u32)ctx->args[3]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int ft_fo_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0, mode = 0;

	/* struct open_how { __u64 flags; __u64 mode; __u64 resolve; } */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	bpf_probe_read_user(&mode, sizeof(mode), (void *)(ctx->args[2] + 8));
	fo_enter(FO_OPENAT2, (__s32)ctx->args[0], ctx->args[1], flags, (__u32)mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int ft_fo_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	fo_enter(FO_OPEN, FO_AT_FDCWD, ctx->args[0], ctx->args[1], (__u32)ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_creat")
int ft_fo_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	fo_enter(FO_CREAT, FO_AT_FDCWD, ctx->args[0], FO_CREAT_FLAGS, (__u32)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int ft_fo_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	fo_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int ft_fo_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	fo_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int ft_fo_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	fo_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_creat")
int ft_fo_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	fo_exit(ctx->ret);
	return 0;
}
