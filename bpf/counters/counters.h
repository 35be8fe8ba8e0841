/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps of the `counters` collector, shared with user space through BTF. */
#ifndef FT_COUNTERS_H
#define FT_COUNTERS_H

/* The events, a slot each in ct_value; ct_enabled has a bit (1 << event) for each one counted. */
enum ct_event {
	CT_PAGE_FAULTS = 0,
	CT_CONTEXT_SWITCHES = 1,
	CT_CPU_MIGRATIONS = 2,
	CT_TASK_CLOCK = 3,
	CT_CYCLES = 4,
	CT_INSTRUCTIONS = 5,
	CT_CACHE_MISSES = 6,
	CT_EVENTS = 7,
};

struct ct_key {
	__u32 pid; /* 0 when counting per cgroup */
	__u32 uid;
	__u64 cgroup; /* 0 when counting per process: see ct_value.cgroup */
	char comm[16]; /* empty when counting per cgroup */
};

/*
 * One per-CPU slot: what each event counted for the key (task_clock: ns).
 * Per process, the cgroup is taken once, when the key is created, in
 * the slot of the CPU that created it (the others hold 0).
 */
struct ct_value {
	__u64 samples[CT_EVENTS];
	__u64 cgroup;
};

/*
 * Each CPU's last few keys with what they gained since they came in
 * (ft_ct_cache, one per buffer): a switch between tasks already there costs
 * no hash lookup. The key that leaves is added into the counts map; a drain
 * reads the idle buffer's caches with the idle counts map and empties them.
 */
#define CT_CACHE_SLOTS 4

struct ct_cache_slot {
	struct ct_key key;
	struct ct_value value;
	__u64 used;
};

struct ct_cache {
	struct ct_cache_slot slot[CT_CACHE_SLOTS];
	__u32 next; /* the slot the next new key takes */
	__u32 pad;
};

#endif /* FT_COUNTERS_H */
