// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * runqlat: run-queue latency (runnable, waiting for a CPU) per (uid, cgroup)
 * as a log2 histogram. A task is queued when it is woken (sched_wakeup,
 * sched_wakeup_new) and when it is preempted: tp_btf/sched_switch with
 * prev->__state still TASK_RUNNING (the plain tracepoint's prev_state does
 * not show preemption; DESIGN.md kernel notes). It waits until it is
 * switched in as `next`. Counts are double-buffered (FT_DB_CTL).
 */
#include "ft_common.h"
#include "runqlat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING 0

struct rq_start {
	__u64 ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct rq_start);
} ft_rq_start SEC(".maps");

struct rq_counts_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct rq_key);
	__type(value, struct rq_value);
} ft_rq_counts_a SEC(".maps"), ft_rq_counts_b SEC(".maps");

FT_DB_CTL(ft_rq_ctl);

FT_LOST_MAP(ft_rq_lost);

static __always_inline void rq_enqueue(struct task_struct *p)
{
	struct rq_start *s;

	if (p->pid == 0 || !ft_filter_task(p))
		return;
	s = bpf_task_storage_get(&ft_rq_start, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		FT_COUNT_LOST(ft_rq_lost);
		return;
	}
	s->ts = bpf_ktime_get_ns();
}

static __always_inline void rq_account(void *counts, struct task_struct *p, __u64 delta)
{
	struct rq_key key = { .uid = ft_task_uid(p), .cgroup = ft_task_cgroup(p) };
	struct rq_value *v = bpf_map_lookup_elem(counts, &key);

	if (!v) {
		struct rq_value init = {};

		if (bpf_map_update_elem(counts, &key, &init, BPF_NOEXIST) && !bpf_map_lookup_elem(counts, &key)) {
			FT_COUNT_LOST(ft_rq_lost);
			return;
		}
		v = bpf_map_lookup_elem(counts, &key);
		if (!v)
			return;
	}
	v->count++;
	v->total_ns += delta;
	if (delta > v->max_ns)
		v->max_ns = delta;
	v->hist[ft_hist_slot(delta, RQ_HIST_SLOTS)]++;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ft_rq_wakeup, struct task_struct *p)
{
	rq_enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(ft_rq_wakeup_new, struct task_struct *p)
{
	rq_enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ft_rq_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct ft_db_ctl *ctl;
	struct rq_start *s;
	__u64 delta;

	if (ft_task_state(prev) == TASK_RUNNING)
		rq_enqueue(prev);
	s = bpf_task_storage_get(&ft_rq_start, next, 0, 0);
	if (!s || !s->ts)
		return 0;
	if (!ft_started_since_attach(s->ts)) {
		s->ts = 0;
		return 0;
	}
	delta = bpf_ktime_get_ns() - s->ts;
	s->ts = 0;
	ctl = ft_db_ctl_get(&ft_rq_ctl);
	if (!ctl)
		return 0;
	if (ctl->active)
		rq_account(&ft_rq_counts_b, next, delta);
	else
		rq_account(&ft_rq_counts_a, next, delta);
	return 0;
}
