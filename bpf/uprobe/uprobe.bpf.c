// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * uprobe: calls and latency of one user-space function, per process. User
 * space attaches ft_up_entry and ft_up_return to the function it names at run
 * time (binary:symbol); a uprobe belongs to the file, so processes started
 * after the attach are counted too. The entry time is kept per task; a nested
 * (recursive) call's return takes it, and the outer return is then counted
 * as a call without a latency. Counts are double-buffered (FT_DB_CTL).
 */
#include "ft_common.h"
#include "uprobe.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct up_start {
	__u64 ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct up_start);
} ft_up_start SEC(".maps");

struct up_counts_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct up_key);
	__type(value, struct up_value);
} ft_up_counts_a SEC(".maps"), ft_up_counts_b SEC(".maps");

FT_DB_CTL(ft_up_ctl);

FT_LOST_MAP(ft_up_lost);

static __always_inline struct up_value *up_slot(struct task_struct *task)
{
	struct up_value fresh = {}, *v;
	struct ft_db_ctl *ctl = ft_db_ctl_get(&ft_up_ctl);
	void *map = ctl && ctl->active ? (void *)&ft_up_counts_b : (void *)&ft_up_counts_a;
	struct up_key key = {};

	key.pid = task->tgid;
	key.uid = ft_task_uid(task);
	ft_task_comm(task, key.comm);
	v = bpf_map_lookup_elem(map, &key);
	if (v)
		return v;
	fresh.cgroup = ft_task_cgroup(task);
	bpf_map_update_elem(map, &key, &fresh, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, &key);
	if (!v)
		FT_COUNT_LOST(ft_up_lost);
	return v;
}

SEC("uprobe")
int ft_up_entry(struct pt_regs *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct up_value *v;
	struct up_start *s;

	if (!ft_filter_task(task))
		return 0;
	v = up_slot(task);
	if (v)
		v->calls++;
	s = bpf_task_storage_get(&ft_up_start, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (s)
		s->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("uretprobe")
int ft_up_return(struct pt_regs *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct up_value *v;
	struct up_start *s;
	__u64 delta;

	s = bpf_task_storage_get(&ft_up_start, task, 0, 0);
	if (!s || !s->ts)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts;
	s->ts = 0;
	v = up_slot(task);
	if (!v)
		return 0;
	v->returns++;
	v->total_ns += delta;
	if (delta > v->max_ns)
		v->max_ns = delta;
	v->hist[ft_hist_slot(delta, UP_HIST_SLOTS)]++;
	return 0;
}
