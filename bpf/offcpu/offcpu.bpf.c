// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * offcpu: time tasks spend blocked, with the kernel and user stacks at the
 * moment they blocked, per (pid, uid, state, stacks).
 *
 * tp_btf/sched_switch runs in the context of `prev` (still current), so its
 * stacks are captured when it switches out; the block ends when it is switched
 * back in as `next`. The state is prev->__state (pre-5.14: state), not the
 * tracepoint's prev_state argument (5.18+); TASK_NOLOAD marks idle kernel
 * workers, reported apart instead of as uninterruptible waits.
 *
 * Blocks can span drains, so stack ids cannot live in double-buffered stack
 * maps: there is one stack map, cleared by user space when it fills, and
 * ft_oc_ctl.stack_gen tells a waking task whether its stored ids survived.
 */
#include "ft_common.h"
#include "offcpu.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TASK_RUNNING 0x0000
#define TASK_INTERRUPTIBLE 0x0001
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_NOLOAD 0x0400

/* Shortest block recorded, ns. */
const volatile __u64 oc_min_block_ns = 1000000;
/* Which enum oc_state values to record, as bits 1 << state. */
const volatile __u32 oc_states = (1 << OC_INTERRUPTIBLE) | (1 << OC_UNINTERRUPTIBLE);

struct oc_start {
	__u64 ts;
	__u32 state;
	__u32 stack_gen;
	__s32 kernel_stack;
	__s32 user_stack;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct oc_start);
} ft_oc_start SEC(".maps");

struct oc_counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct oc_key);
	__type(value, struct oc_value);
} ft_oc_counts_a SEC(".maps"), ft_oc_counts_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, OC_MAX_FRAMES * sizeof(__u64));
} ft_oc_stacks SEC(".maps");

FT_DB_CTL(ft_oc_ctl);

/* [0]: blocks not counted (map full or no task storage); [1]: stacks not captured or cleared meanwhile */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} ft_oc_lost SEC(".maps");

static __always_inline void oc_lost(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&ft_oc_lost, &slot);

	if (n)
		(*n)++;
}

static __always_inline __u32 oc_classify(__u32 state)
{
	if (state & TASK_NOLOAD)
		return OC_IDLE;
	if (state & TASK_UNINTERRUPTIBLE)
		return OC_UNINTERRUPTIBLE;
	if (state & TASK_INTERRUPTIBLE)
		return OC_INTERRUPTIBLE;
	return OC_OTHER;
}

static __always_inline void oc_switch_out(void *ctx, bool preempt, struct task_struct *prev,
					  struct ft_db_ctl *ctl)
{
	__u32 raw = ft_task_state(prev), state;
	struct oc_start *s;

	/*
	 * A preempted task stays runnable even when it had already set a sleeping
	 * state (kernel/sched/core.c: __schedule deactivates only when !preempt):
	 * it is waiting for a CPU, not blocked.
	 */
	if (preempt || raw == TASK_RUNNING)
		return;
	state = oc_classify(raw);
	if (!(oc_states & (1 << state)) || prev->tgid == 0)
		return;
	if (!ft_filter_task(prev))
		return;
	s = bpf_task_storage_get(&ft_oc_start, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		oc_lost(0);
		return;
	}
	s->ts = bpf_ktime_get_ns();
	s->state = state;
	s->stack_gen = ctl->stack_gen;
	s->kernel_stack = bpf_get_stackid(ctx, &ft_oc_stacks, 0);
	s->user_stack = prev->mm ? bpf_get_stackid(ctx, &ft_oc_stacks, BPF_F_USER_STACK) : -14;
}

static __always_inline void oc_account(struct task_struct *next, struct oc_start *s, __u64 delta,
				       void *counts, struct ft_db_ctl *ctl)
{
	struct oc_key key = {
		.pid = next->tgid,
		.uid = ft_task_uid(next),
		.state = s->state,
		.kernel_stack = s->kernel_stack,
		.user_stack = s->user_stack,
	};
	struct oc_value *v, init = {};

	if (s->stack_gen != ctl->stack_gen) {
		/* the stack map was cleared while this task slept: its ids may now name other stacks */
		key.kernel_stack = -116; /* -ESTALE */
		key.user_stack = -116;
	}
	if ((key.kernel_stack < 0 && key.kernel_stack != -14) || (key.user_stack < 0 && key.user_stack != -14))
		oc_lost(1);
	v = bpf_map_lookup_elem(counts, &key);
	if (!v) {
		init.cgroup = ft_task_cgroup(next);
		bpf_probe_read_kernel_str(init.comm, sizeof(init.comm), next->comm);
		if (bpf_map_update_elem(counts, &key, &init, BPF_NOEXIST) && !bpf_map_lookup_elem(counts, &key)) {
			oc_lost(0);
			return;
		}
		v = bpf_map_lookup_elem(counts, &key);
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->total_ns, delta);
	__sync_fetch_and_add(&v->blocks, 1);
	if (delta > v->max_ns)
		v->max_ns = delta;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ft_oc_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct ft_db_ctl *ctl = ft_db_ctl_get(&ft_oc_ctl);
	struct oc_start *s;
	__u64 delta;

	if (!ctl)
		return 0;
	oc_switch_out(ctx, preempt, prev, ctl);

	s = bpf_task_storage_get(&ft_oc_start, next, 0, 0);
	if (!s || !s->ts)
		return 0;
	if (!ft_started_since_attach(s->ts)) {
		s->ts = 0;
		return 0;
	}
	delta = bpf_ktime_get_ns() - s->ts;
	s->ts = 0;
	if (delta < oc_min_block_ns)
		return 0;
	if (ctl->active)
		oc_account(next, s, delta, &ft_oc_counts_b, ctl);
	else
		oc_account(next, s, delta, &ft_oc_counts_a, ctl);
	return 0;
}
