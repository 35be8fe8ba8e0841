// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * counters: perf counters per process (or per cgroup). Every event is a perf
 * event opened on each CPU for all tasks with a fixed sample period; at each
 * overflow the kernel runs that event's program in the context of the task
 * that made it overflow, which adds one to the task's slot for the event.
 * User space multiplies by the period: with period 1 (page faults, context
 * switches, migrations by default) the count is exact. Counts are
 * double-buffered (FT_DB_CTL) so that a drain loses no increment.
 */
#include "ft_common.h"
#include "counters.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before load: count per cgroup (pid 0, no comm) instead of per process. */
const volatile __u8 ct_per_cgroup = 0;

struct ct_counts_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct ct_key);
	__type(value, struct ct_value);
} ft_ct_counts_a SEC(".maps"), ft_ct_counts_b SEC(".maps");

FT_DB_CTL(ft_ct_ctl);

FT_LOST_MAP(ft_ct_lost);

static __always_inline void ct_count(__u32 event)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct ct_value fresh = {}, *v;
	struct ft_db_ctl *ctl;
	struct ct_key key = {};
	void *map;

	if (event >= CT_EVENTS || !ft_filter_task(task))
		return;
	/* Per event only what is cheap (no probe reads): the cgroup walk is done once per key. */
	key.uid = (__u32)bpf_get_current_uid_gid();
	if (ct_per_cgroup) {
		key.cgroup = ft_task_cgroup(task);
	} else {
		key.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(key.comm, sizeof(key.comm));
	}
	ctl = ft_db_ctl_get(&ft_ct_ctl);
	map = ctl && ctl->active ? (void *)&ft_ct_counts_b : (void *)&ft_ct_counts_a;
	v = bpf_map_lookup_elem(map, &key);
	if (!v) {
		fresh.cgroup = ct_per_cgroup ? key.cgroup : ft_task_cgroup(task);
		/* per-CPU values: no other CPU writes this slot, BPF_NOEXIST only guards a racing insert */
		bpf_map_update_elem(map, &key, &fresh, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, &key);
		if (!v) {
			FT_COUNT_LOST(ft_ct_lost);
			return;
		}
	}
	v->samples[event]++;
}

#define CT_PROGRAM(name, event)                               \
	SEC("perf_event")                                     \
	int ft_ct_##name(struct bpf_perf_event_data *ctx)     \
	{                                                     \
		ct_count(event);                              \
		return 0;                                     \
	}

CT_PROGRAM(page_faults, CT_PAGE_FAULTS)
CT_PROGRAM(context_switches, CT_CONTEXT_SWITCHES)
CT_PROGRAM(cpu_migrations, CT_CPU_MIGRATIONS)
CT_PROGRAM(task_clock, CT_TASK_CLOCK)
CT_PROGRAM(cycles, CT_CYCLES)
CT_PROGRAM(instructions, CT_INSTRUCTIONS)
CT_PROGRAM(cache_misses, CT_CACHE_MISSES)
