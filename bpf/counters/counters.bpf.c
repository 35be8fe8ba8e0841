// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * counters: perf counters per process (or per cgroup), the way
 * `perf stat --bpf-counters` splits them. Each perf event counts on every CPU
 * in counting mode: the kernel adds to a counter and takes no interrupt and
 * runs no program per event. At every context switch this program reads the
 * CPU's counters and gives what they gained since the last switch to the task
 * switching out; a slow timer (ft_ct_tick) does the same for the task on the
 * CPU, so that a task that never switches is not counted late. Context
 * switches and task clock need no perf event: the switch itself and the time
 * since the last one. Counts are exact; the cost is per context switch, not
 * per event, and a switch between tasks whose keys sit in the CPU's small
 * cache (ct_cache) costs no hash lookup. Counts are double-buffered (FT_DB_CTL,
 * caches included) so that a drain loses no increment.
 */
#include "ft_common.h"
#include "counters.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before load: count per cgroup (pid 0, no comm) instead of per process. */
const volatile __u8 ct_per_cgroup = 0;
/* Set before load: the events counted, a bit (1 << enum ct_event) each. */
const volatile __u32 ct_enabled = 0;

struct ct_counts_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct ct_key);
	__type(value, struct ct_value);
} ft_ct_counts_a SEC(".maps"), ft_ct_counts_b SEC(".maps");

FT_DB_CTL(ft_ct_ctl);

FT_LOST_MAP(ft_ct_lost);

/* Each CPU's counting event of a perf-counted event, at the CPU's index (user space fills them). */
struct ct_events_map {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} ft_ct_ev_page_faults SEC(".maps"), ft_ct_ev_cpu_migrations SEC(".maps"),
	ft_ct_ev_cycles SEC(".maps"), ft_ct_ev_instructions SEC(".maps"),
	ft_ct_ev_cache_misses SEC(".maps");

FT_KEY_CACHE_MAP(ft_ct_cache, struct ct_cache);

/* Per CPU: the counters' values and the time at the last attribution. */
struct ct_cpu {
	__u64 last[CT_EVENTS];
	__u64 since_ns;
	__u64 primed; /* the first run on a CPU only takes the starting values */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_cpu);
} ft_ct_cpu SEC(".maps");

#define CT_ON(event) (ct_enabled & (1U << (event)))

/* What the CPU's counter of `event` gained since the last call. */
static __always_inline __u64 ct_gain(void *events, __u32 event, struct ct_cpu *cpu)
{
	struct bpf_perf_event_value v = {};
	__u64 gain;

	if (!CT_ON(event) || event >= CT_EVENTS)
		return 0;
	if (bpf_perf_event_read_value(events, BPF_F_CURRENT_CPU, &v, sizeof(v)) != 0)
		return 0;
	gain = v.counter - cpu->last[event];
	cpu->last[event] = v.counter;
	return gain;
}

static __always_inline bool ct_key_equal(const struct ct_key *a, const struct ct_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Adds the counted events' gains (the others are 0: the verifier drops their slots). */
static __always_inline void ct_add(struct ct_value *v, const __u64 *gain)
{
#pragma unroll
	for (int e = 0; e < CT_EVENTS; e++)
		if (CT_ON(e))
			v->samples[e] += gain[e];
}

/* Gives what this CPU's counters gained since the last call to `task`; `switches` is 1 at a switch. */
static __always_inline void ct_attribute(struct task_struct *task, __u64 switches)
{
	__u64 gain[CT_EVENTS] = {};
	struct ct_value fresh = {}, *v;
	struct ct_cache_slot *slot;
	struct ft_db_ctl *ctl;
	struct ct_key key = {};
	struct ct_cache *cache;
	__u32 zero = 0, active;
	struct ct_cpu *cpu;
	bool primed;
	void *map;

	cpu = bpf_map_lookup_elem(&ft_ct_cpu, &zero);
	if (!cpu)
		return;
	gain[CT_PAGE_FAULTS] = ct_gain(&ft_ct_ev_page_faults, CT_PAGE_FAULTS, cpu);
	gain[CT_CPU_MIGRATIONS] = ct_gain(&ft_ct_ev_cpu_migrations, CT_CPU_MIGRATIONS, cpu);
	gain[CT_CYCLES] = ct_gain(&ft_ct_ev_cycles, CT_CYCLES, cpu);
	gain[CT_INSTRUCTIONS] = ct_gain(&ft_ct_ev_instructions, CT_INSTRUCTIONS, cpu);
	gain[CT_CACHE_MISSES] = ct_gain(&ft_ct_ev_cache_misses, CT_CACHE_MISSES, cpu);
	gain[CT_CONTEXT_SWITCHES] = switches;
	if (CT_ON(CT_TASK_CLOCK)) {
		__u64 now = bpf_ktime_get_ns();

		gain[CT_TASK_CLOCK] = now - cpu->since_ns;
		cpu->since_ns = now;
	}
	primed = cpu->primed;
	cpu->primed = 1;
	/* the idle task is no process; tasks outside the filters are not counted */
	if (!primed || task->pid == 0 || !ft_filter_task(task))
		return;
	key.uid = ft_task_uid(task);
	if (ct_per_cgroup) {
		key.cgroup = ft_task_cgroup(task);
	} else {
		key.pid = task->tgid;
		ft_task_comm(task, key.comm);
	}
	ctl = ft_db_ctl_get(&ft_ct_ctl);
	active = ctl && ctl->active ? 1 : 0;
	cache = bpf_map_lookup_elem(&ft_ct_cache, &active);
	if (!cache)
		return;
#pragma unroll
	for (int i = 0; i < CT_CACHE_SLOTS; i++) {
		struct ct_cache_slot *c = &cache->slot[i];

		if (c->used && ct_key_equal(&c->key, &key)) {
			ct_add(&c->value, gain);
			return;
		}
	}
	/* a new key on this CPU: it takes the oldest slot, whose key goes to the counts map */
	slot = &cache->slot[cache->next % CT_CACHE_SLOTS];
	cache->next++;
	if (slot->used) {
		map = active ? (void *)&ft_ct_counts_b : (void *)&ft_ct_counts_a;
		v = ft_lookup_or_init(map, &slot->key, &fresh);
		if (v) {
			ct_add(v, slot->value.samples);
			if (!v->cgroup)
				v->cgroup = slot->value.cgroup;
		} else {
			FT_COUNT_LOST(ft_ct_lost);
		}
	}
	slot->key = key;
	slot->value = fresh;
	ct_add(&slot->value, gain);
	slot->value.cgroup = ct_per_cgroup ? key.cgroup : ft_task_cgroup(task);
	slot->used = 1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ft_ct_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	ct_attribute(prev, 1);
	return 0;
}

SEC("perf_event")
int ft_ct_tick(struct bpf_perf_event_data *ctx)
{
	ct_attribute(bpf_get_current_task_btf(), 0);
	return 0;
}
