// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscalls: calls, total time and a log2 latency histogram per (pid, uid,
 * syscall), and error counts per (pid, uid, syscall, errno), aggregated in the
 * kernel.
 *
 * Draining: the programs reach the live maps through one-slot ARRAY_OF_MAPS
 * maps. User space points the slot at the idle map; that update waits for an
 * RCU grace period (kernel/bpf/syscall.c: maybe_wait_bpf_programs), so after
 * it returns no program still writes the old map, which is then read and
 * cleared without losing an increment.
 */
#include "ft_common.h"
#include "syscalls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SC_MAX_ENTRIES 10240
#define SC_ERR_MAX_ENTRIES 4096

/* Ignore syscalls whose number is out of this range (x32 ABI bit, garbage). */
#define SC_NR_MAX 1024

struct sc_start {
	__u64 ts;
	__u32 nr;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sc_start);
} ft_sc_start SEC(".maps");

struct sc_stats_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SC_MAX_ENTRIES);
	__type(key, struct sc_key);
	__type(value, struct sc_value);
};

struct sc_errors_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SC_ERR_MAX_ENTRIES);
	__type(key, struct sc_err_key);
	__type(value, __u64);
};

struct sc_stats_map ft_sc_stats_a SEC(".maps");
struct sc_stats_map ft_sc_stats_b SEC(".maps");
struct sc_errors_map ft_sc_errs_a SEC(".maps");
struct sc_errors_map ft_sc_errs_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sc_stats_map);
} ft_sc_stats SEC(".maps") = {
	.values = { [0] = &ft_sc_stats_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sc_errors_map);
} ft_sc_errs SEC(".maps") = {
	.values = { [0] = &ft_sc_errs_a },
};

/* Increments that could not be recorded because a map was full. */
FT_LOST_MAP(ft_sc_lost);

SEC("raw_tp/sys_enter")
int ft_sc_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sc_start *s;

	if (!ft_filter_task(task))
		return 0;
	s = bpf_task_storage_get(&ft_sc_start, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		FT_COUNT_LOST(ft_sc_lost);
		return 0;
	}
	s->nr = (__u32)ctx->args[1];
	s->ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline void sc_count_error(__u32 pid, __u32 uid, __u32 nr, long ret)
{
	struct sc_err_key key = { .pid = pid, .uid = uid, .nr = nr, .err = (__u32)-ret };
	__u32 zero = 0;
	__u64 one = 1, *n;
	void *errs;
	long err;

	errs = bpf_map_lookup_elem(&ft_sc_errs, &zero);
	if (!errs)
		return;
	n = bpf_map_lookup_elem(errs, &key);
	if (n) {
		(*n)++;
		return;
	}
	err = bpf_map_update_elem(errs, &key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		n = bpf_map_lookup_elem(errs, &key);
		if (n)
			(*n)++;
	} else if (err) {
		FT_COUNT_LOST(ft_sc_lost);
	}
}

SEC("raw_tp/sys_exit")
int ft_sc_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sc_key key = {};
	struct sc_value *v;
	struct sc_start *s;
	__u64 delta;
	__u32 zero = 0;
	long ret;
	void *stats;

	s = bpf_task_storage_get(&ft_sc_start, task, 0, 0);
	if (!s || !s->ts)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts;
	s->ts = 0;
	key.nr = s->nr;
	if (key.nr >= SC_NR_MAX)
		return 0;
	key.pid = task->tgid;
	key.uid = ft_task_uid(task);
	ret = (long)ctx->args[1];

	stats = bpf_map_lookup_elem(&ft_sc_stats, &zero);
	if (!stats)
		return 0;
	v = bpf_map_lookup_elem(stats, &key);
	if (!v) {
		struct sc_value init = {};
		long err = bpf_map_update_elem(stats, &key, &init, BPF_NOEXIST);

		if (err && err != -EEXIST) {
			FT_COUNT_LOST(ft_sc_lost);
			return 0;
		}
		v = bpf_map_lookup_elem(stats, &key);
		if (!v)
			return 0;
	}
	if (v->count == 0) {
		v->cgroup = ft_task_cgroup(task);
		bpf_get_current_comm(v->comm, sizeof(v->comm));
	}
	v->count++;
	v->total_ns += delta;
	v->hist[ft_hist_slot(delta, SC_HIST_SLOTS)]++;
	/* -4095..-1 are errnos (include/linux/err.h: MAX_ERRNO). */
	if (ret < 0 && ret >= -4095)
		sc_count_error(key.pid, key.uid, key.nr, ret);
	return 0;
}
