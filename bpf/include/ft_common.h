/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Conventions every fleettrace collector inherits:
 *  - program names start with "ft_" (the kernel keeps 15 characters) so that
 *    leftovers are findable with `bpftool prog`;
 *  - filters by pid, uid, comm and cgroup live in ft_filter* maps, set before
 *    attach and changeable while attached (jobs share kernel instances);
 *  - timestamps are the boot-time clock; user space adds the REALTIME - BOOTTIME
 *    offset it measures, giving UTC Unix nanoseconds;
 *  - "cgroup" is the task's cgroup v2 id when it sits in a non-root v2 cgroup,
 *    otherwise its v1 memory-controller cgroup id tagged with FT_CGROUP_V1;
 *  - log2 histograms use ft_log2l(): clang 14 cannot compile __builtin_clz* for BPF.
 */
#ifndef FT_COMMON_H
#define FT_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "ft_event.h"

#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

/* Deepest cgroup nesting the cgroup filter walks (the walk must be bounded). */
#define FT_CGROUP_MAX_DEPTH 16

/*
 * Filters live in maps, not in read-only data, so that the jobs sharing one
 * kernel instance of a collector can change them while it runs: user space
 * writes the union of its subscribers' filters (per dimension, when every
 * subscriber constrains that dimension) and splits rows per job itself.
 * ft_filter[0].flags says which dimensions are active; an unset dimension
 * costs one load and a branch.
 */
#define FT_FILTER_PID (1U << 0)
#define FT_FILTER_UID (1U << 1)
#define FT_FILTER_COMM (1U << 2)
#define FT_FILTER_CGROUP (1U << 3)
/*
 * Processes no job traces: the agent itself and the processes whose CPU it
 * charges to its jobs (the ingest and embedded store of `fleettrace up`).
 * Their cost is in every job's overhead figure; tracing them too would turn
 * each drain into rows about the drain, which on an idle host are most rows.
 */
#define FT_FILTER_SKIP (1U << 4)
#define FT_FILTER_SKIP_MAX 4

struct ft_filter_cfg {
	__u32 flags;
	__u32 pad;
	/* thread-group ids, 0 = unused slot */
	__u32 skip_tgid[FT_FILTER_SKIP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ft_filter_cfg);
} ft_filter SEC(".maps");

/* thread-group ids */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} ft_filter_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} ft_filter_uids SEC(".maps");

struct ft_comm {
	char name[FT_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct ft_comm);
	__type(value, __u8);
} ft_filter_comms SEC(".maps");

/* kernfs ids of cgroup directories; v1 memory ids carry FT_CGROUP_V1 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} ft_filter_cgroups SEC(".maps");

/* log2 of a 32-bit value, rounded down; ft_log2(0) == 0. */
static __always_inline __u32 ft_log2(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 ft_log2l(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? ft_log2(hi) + 32 : ft_log2(v);
}

/* Histogram slot for a value: slot s holds [2^s, 2^(s+1)), the last slot everything above. */
static __always_inline __u32 ft_hist_slot(__u64 v, __u32 nslots)
{
	__u32 s = ft_log2l(v);

	return s < nslots ? s : nslots - 1;
}

static __always_inline struct cgroup_subsys_state *ft_memory_css(struct task_struct *task)
{
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	if (id < 0 || id >= 16)
		return NULL;
	return task->cgroups->subsys[id];
}

/*
 * The task's cgroup in the DESIGN.md sense. On hybrid hosts every task sits at
 * the v2 root, so the v2 id alone is constant there and the v1 memory cgroup
 * is what tells customers apart.
 */
static __always_inline __u64 ft_task_cgroup(struct task_struct *task)
{
	/* loads through BTF pointers (CO-RE relocated), not probe reads: callers run per event */
	struct cgroup *dfl = task->cgroups->dfl_cgrp;
	struct cgroup_subsys_state *mem;

	if (dfl && dfl->level > 0)
		return dfl->kn->id;
	mem = ft_memory_css(task);
	if (!mem)
		return 0;
	return mem->cgroup->kn->id | FT_CGROUP_V1;
}

struct task_struct___pre514 {
	long state;
};

/* The task's scheduler state: __state since 5.14, state before (CO-RE picks). */
static __always_inline __u32 ft_task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* True when css or one of its ancestors is in ft_filter_cgroups (ids tagged with `tag`). */
static __always_inline bool ft_css_listed(struct cgroup_subsys_state *css, __u64 tag)
{
	for (int i = 0; i < FT_CGROUP_MAX_DEPTH && css; i++) {
		__u64 id = BPF_CORE_READ(css, cgroup, kn, id) | tag;

		if (bpf_map_lookup_elem(&ft_filter_cgroups, &id))
			return true;
		css = BPF_CORE_READ(css, parent);
	}
	return false;
}

/*
 * The task's real uid in the initial user namespace, as bpf_get_current_uid_gid()
 * returns it, but read straight from the trusted task pointer: the helper call
 * costs several times more on the syscall hot path.
 */
static __always_inline __u32 ft_task_uid(struct task_struct *task)
{
	return task->cred->uid.val;
}

/*
 * The task's comm into a 16-byte buffer, as bpf_get_current_comm() gives it,
 * but as two loads from the trusted task pointer instead of a helper call.
 */
static __always_inline void ft_task_comm(struct task_struct *task, char comm[16])
{
	*(__u64 *)&comm[0] = *(__u64 *)&task->comm[0];
	*(__u64 *)&comm[8] = *(__u64 *)&task->comm[8];
}

/*
 * Whether `task` passes the active filters. Cheapest checks first; with no
 * filter active this is one array lookup and a branch.
 */
static __always_inline bool ft_filter_task(struct task_struct *task)
{
	__u32 zero = 0, key;
	struct ft_filter_cfg *cfg = bpf_map_lookup_elem(&ft_filter, &zero);
	__u32 flags;

	if (!cfg)
		return true;
	flags = cfg->flags;
	if (!flags)
		return true;
	if (flags & FT_FILTER_SKIP) {
		__u32 tgid = task->tgid;

		if (tgid && (tgid == cfg->skip_tgid[0] || tgid == cfg->skip_tgid[1] ||
			     tgid == cfg->skip_tgid[2] || tgid == cfg->skip_tgid[3]))
			return false;
	}
	if (flags & FT_FILTER_PID) {
		key = task->tgid;
		if (!bpf_map_lookup_elem(&ft_filter_pids, &key))
			return false;
	}
	if (flags & FT_FILTER_UID) {
		key = ft_task_uid(task);
		if (!bpf_map_lookup_elem(&ft_filter_uids, &key))
			return false;
	}
	if (flags & FT_FILTER_COMM) {
		struct ft_comm comm = {};

		bpf_probe_read_kernel_str(comm.name, sizeof(comm.name), task->comm);
		if (!bpf_map_lookup_elem(&ft_filter_comms, &comm))
			return false;
	}
	if (flags & FT_FILTER_CGROUP) {
		struct cgroup_subsys_state *v2 =
			(struct cgroup_subsys_state *)BPF_CORE_READ(task, cgroups, dfl_cgrp);

		if (!ft_css_listed(v2, 0) && !ft_css_listed(ft_memory_css(task), FT_CGROUP_V1))
			return false;
	}
	return true;
}

/*
 * Duty cycling: an agent over its overhead budget detaches a collector's
 * programs for part of each period. A start time recorded before the latest
 * attach (a task that blocked, or entered a syscall, while the programs were
 * detached) would turn the gap into one bogus latency: consumers drop starts
 * older than ft_duty[0].since_ns (bpf_ktime_get_ns clock), which user space
 * sets before every attach.
 */
struct ft_duty_cfg {
	__u64 since_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ft_duty_cfg);
} ft_duty SEC(".maps");

/* Whether a start time taken at `ts` belongs to the current attach. */
static __always_inline bool ft_started_since_attach(__u64 ts)
{
	__u32 zero = 0;
	struct ft_duty_cfg *d = bpf_map_lookup_elem(&ft_duty, &zero);

	return !d || ts >= d->since_ns;
}

/*
 * Ring-buffer wake-ups. By default every bpf_ringbuf_submit() that finds the
 * reader caught up queues an irq_work that wakes the reader thread
 * (kernel/bpf/ringbuf.c: bpf_ringbuf_commit), so under a fork storm each
 * record cost a wake-up of the kernel side, the native reader and the event
 * loop. Records are submitted without a wake-up; the record that takes the
 * ring past ft_ring_wakeup_bytes (or a quarter of a small ring) wakes the
 * reader, once: while the reader is behind, the ring stays above the mark,
 * and forcing a wake-up with every record (an irq_work each) cost a producer
 * of 600,000 opens a second 1.5 µs per record for nothing. The reader also
 * polls on a timer and is flushed at every drain, so nothing waits longer
 * than one drain interval.
 */
const volatile __u64 ft_ring_wakeup_bytes = 64 * 1024;

/* Records are smaller than this: a record that crosses a mark lands within it. */
#define FT_RING_CROSSING 4096

static __always_inline bool ft_ring_crossed(__u64 avail, __u64 mark)
{
	return avail >= mark && avail < mark + FT_RING_CROSSING;
}

static __always_inline void ft_ringbuf_submit(void *record, void *ring)
{
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u64 flags = BPF_RB_NO_WAKEUP;

	/* A quarter of a small ring wakes the reader too: it must not fill first. */
	if (ft_ring_crossed(avail, ft_ring_wakeup_bytes) ||
	    ft_ring_crossed(avail, bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) / 4))
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(record, flags);
}

/* Fills the common event header from `task` (any task, not only the current one). */
static __always_inline void ft_fill_header_task(struct ft_event_header *h, struct task_struct *task,
						__u32 kind)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup = ft_task_cgroup(task);
	h->pid = task->tgid;
	h->tid = task->pid;
	h->uid = ft_task_uid(task);
	h->kind = kind;
	ft_task_comm(task, h->comm);
}

/* Fills the common event header from the current task. */
static __always_inline void ft_fill_header(struct ft_event_header *h, __u32 kind)
{
	ft_fill_header_task(h, bpf_get_current_task_btf(), kind);
}

/*
 * Double-buffered aggregation with a control slot. Programs read `active`
 * once per event and write only the maps of that buffer. User space flips
 * `active`, then updates the one-slot map-in-map `<name>_sync`, an update the
 * kernel completes only after an RCU grace period
 * (kernel/bpf/syscall.c: maybe_wait_bpf_programs), so no program still writes
 * the old buffer when user space reads and clears it.
 */
struct ft_db_ctl {
	__u32 active;    /* buffer programs write: 0 or 1 */
	__u32 stream;    /* collector-specific switch, e.g. per-sample events */
	__u32 stack_gen; /* bumped when a shared stack map is cleared */
	__u32 pad;
};

#define FT_DB_CTL(name)                                  \
	struct ft_db_ctl_map {                           \
		__uint(type, BPF_MAP_TYPE_ARRAY);        \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, struct ft_db_ctl);         \
	} name SEC(".maps");                             \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__array(values, struct ft_db_ctl_map);   \
	} name##_sync SEC(".maps") = { .values = { [0] = &name } }

static __always_inline struct ft_db_ctl *ft_db_ctl_get(void *map)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(map, &zero);
}

/*
 * A per-CPU cache of recent keys for each buffer of FT_DB_CTL (index: the
 * buffer), `cache_type` holding the slots: see counters.h and tracepoint.h.
 */
#define FT_KEY_CACHE_MAP(name, cache_type)                               \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                 \
		__uint(max_entries, 2); /* one per buffer: ft_db_ctl.active */ \
		__type(key, __u32);                                      \
		__type(value, cache_type);                               \
	} name SEC(".maps")

/*
 * The value of `key` in `map`, created from `init` when missing. For per-CPU
 * maps: no other CPU writes this CPU's slot, BPF_NOEXIST only guards a racing
 * insert. NULL when the map is full.
 */
static __always_inline void *ft_lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/*
 * Keeps a struct in the object's BTF even when only pointers to ring-buffer
 * memory use it (clang emits BTF only for types that globals, maps and
 * function signatures reference): user space generates its decoder from it.
 */
#define FT_BTF_EXPORT(type, name) type *ft_btf_##name __attribute__((unused))

/* Adds one to a per-CPU loss counter map with a single u64 slot. */
#define FT_COUNT_LOST(map)                                          \
	do {                                                        \
		__u32 __zero = 0;                                   \
		__u64 *__lost = bpf_map_lookup_elem(&(map), &__zero); \
		if (__lost)                                         \
			(*__lost)++;                                \
	} while (0)

#define FT_LOST_MAP(name)                            \
	struct {                                     \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, __u64);                    \
	} name SEC(".maps")

#endif /* FT_COMMON_H */
