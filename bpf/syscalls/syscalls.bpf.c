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
#define SC_COARSE_MAX_ENTRIES 4096

/* Ignore syscalls whose number is out of this range (x32 ABI bit, garbage). */
#define SC_NR_MAX 1024
/* sc_start.nr between calls: the exit of a call whose entry was not seen is not counted. */
#define SC_NR_NONE 0xffffffffU

/*
 * Every call is counted; its latency is measured (two clock reads, the most
 * expensive part of the hot path) for the first sc_timed_per_tick calls of a
 * task in each scheduler tick (jiffy), and after those for the first call of
 * each syscall in the tick (by nr mod 127, a prime: the common syscalls do
 * not share a bucket), so that a rare syscall in a busy
 * task is still timed. 0 times every call. A task making fewer calls than
 * that per tick has every call timed; a busy loop has a sample, from which
 * user space scales total_ns and the histogram to the count.
 */
const volatile __u32 sc_timed_per_tick = 16;

struct sc_start {
	__u64 ts;     /* entry time of a timed call, 0 when untimed */
	__u64 tick;   /* jiffy the timing allowance belongs to */
	__u64 seen[2]; /* bit nr % 127: a call of that syscall was timed in `tick` */
	__u32 nr;     /* syscall in progress, SC_NR_NONE between calls */
	__u32 left;   /* calls still to time in `tick` whatever their syscall */
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

struct sc_coarse_stats_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SC_COARSE_MAX_ENTRIES);
	__type(key, struct sc_coarse_key);
	__type(value, struct sc_value);
};

struct sc_coarse_errors_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SC_COARSE_MAX_ENTRIES);
	__type(key, struct sc_coarse_key);
	__type(value, __u64);
};

struct sc_coarse_stats_map ft_sc_cstats_a SEC(".maps");
struct sc_coarse_stats_map ft_sc_cstats_b SEC(".maps");
struct sc_coarse_errors_map ft_sc_cerrs_a SEC(".maps");
struct sc_coarse_errors_map ft_sc_cerrs_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sc_coarse_stats_map);
} ft_sc_cstats SEC(".maps") = {
	.values = { [0] = &ft_sc_cstats_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sc_coarse_errors_map);
} ft_sc_cerrs SEC(".maps") = {
	.values = { [0] = &ft_sc_cerrs_a },
};

/*
 * ft_sc_count's caches (see sc_cache), swapped by user space like the maps
 * above: the idle one is read and emptied with nobody writing to it.
 */
struct sc_cache_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sc_cache);
};

struct sc_cache_map ft_sc_cache_a SEC(".maps");
struct sc_cache_map ft_sc_cache_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sc_cache_map);
} ft_sc_cache SEC(".maps") = {
	.values = { [0] = &ft_sc_cache_a },
};

/* Increments that could not be recorded because a map and its overflow map were full. */
FT_LOST_MAP(ft_sc_lost);
/* Increments recorded in the overflow maps (per uid, comm, syscall) instead of per process. */
FT_LOST_MAP(ft_sc_coarsened);

static __always_inline __u32 sc_comm_hash(const char *comm)
{
	__u32 h = 2166136261U;

	for (int i = 0; i < 16; i++) {
		if (!comm[i])
			break;
		h = (h ^ (__u8)comm[i]) * 16777619U;
	}
	return h;
}

/* Inserts `init` under `key` (another CPU may just have); NULL when the map is full. */
static __always_inline void *sc_insert(void *map, const void *key, const void *init)
{
	long err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);

	if (err && err != -EEXIST)
		return NULL;
	return bpf_map_lookup_elem(map, key);
}

/* Looks `key` up in `map`, inserting `init` when missing; NULL when the map is full. */
static __always_inline void *sc_upsert(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	return v ? v : sc_insert(map, key, init);
}

/*
 * Per CPU, per per-process map (0 stats, 1 errors): the jiffy until which the
 * map is taken as full, set when an insert failed. Under process churn the
 * map fills within a drain interval, and a failed insert (a bucket lock and
 * a search of every CPU's free list) made each call of a new process cost
 * about three times a counted one; meanwhile calls of keys already in the map
 * are still counted there and new keys go straight to the overflow map. A
 * drain empties the map; inserts are tried again SC_FULL_JIFFIES later at the
 * latest.
 */
#define SC_FULL_JIFFIES 4
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} ft_sc_full SEC(".maps");

/* sc_upsert on a per-process map, skipping the insert while `slot` says it is full. */
static __always_inline void *sc_upsert_pid(void *map, const void *key, const void *init, __u32 slot)
{
	void *v = bpf_map_lookup_elem(map, key);
	__u64 *until, now;

	if (v)
		return v;
	until = bpf_map_lookup_elem(&ft_sc_full, &slot);
	if (!until)
		return NULL;
	now = bpf_jiffies64();
	if (*until > now)
		return NULL;
	v = sc_insert(map, key, init);
	if (!v)
		*until = now + SC_FULL_JIFFIES;
	return v;
}

SEC("raw_tp/sys_enter")
int ft_sc_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sc_start *s;
	__u64 tick;

	if (!ft_filter_task(task))
		return 0;
	s = bpf_task_storage_get(&ft_sc_start, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		FT_COUNT_LOST(ft_sc_lost);
		return 0;
	}
	s->nr = (__u32)ctx->args[1];
	if (sc_timed_per_tick) {
		__u32 bucket = s->nr % 127;
		__u64 bit = 1ULL << (bucket & 63);
		__u64 *seen = &s->seen[(bucket >> 6) & 1];

		tick = bpf_jiffies64();
		if (s->tick != tick) {
			s->tick = tick;
			s->left = sc_timed_per_tick;
			s->seen[0] = 0;
			s->seen[1] = 0;
		}
		if (s->left) {
			s->left--;
		} else if (*seen & bit) {
			s->ts = 0;
			return 0;
		}
		*seen |= bit;
	}
	s->ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline void sc_count_error(__u32 pid, __u32 uid, __u32 nr, long ret,
					   const char *comm, bool coarse)
{
	struct sc_err_key key = { .pid = pid, .uid = uid, .nr = nr, .err = (__u32)-ret };
	struct sc_coarse_key ckey = {};
	__u32 zero = 0;
	__u64 one = 0, *n;
	void *errs;

	if (!coarse) {
		errs = bpf_map_lookup_elem(&ft_sc_errs, &zero);
		if (!errs)
			return;
		n = sc_upsert_pid(errs, &key, &one, 1);
		if (n) {
			(*n)++;
			return;
		}
	}
	errs = bpf_map_lookup_elem(&ft_sc_cerrs, &zero);
	if (!errs)
		return;
	ckey.uid = uid;
	ckey.nr = nr;
	ckey.err = key.err;
	ckey.comm_hash = sc_comm_hash(comm);
	n = sc_upsert(errs, &ckey, &one);
	if (!n) {
		FT_COUNT_LOST(ft_sc_lost);
		return;
	}
	(*n)++;
	FT_COUNT_LOST(ft_sc_coarsened);
}

/*
 * Slot 0 non-zero: the agent degraded the collector to keep a job within its
 * budget under process churn, where every short-lived process would make its
 * own rows: calls are counted per (uid, comm, syscall) only, as when the
 * per-process map is full.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ft_sc_coarse SEC(".maps");

/* The initial value of a new slot (a global: sc_value is too big for the stack with the rest). */
static const struct sc_value sc_zero_value;

/* Adds `n` to a per-CPU counter map with a single u64 slot. */
static __always_inline void sc_add_counter(void *map, __u64 n)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(map, &zero);

	if (c)
		*c += n;
}

/*
 * The overflow slot of (uid, comm, nr), NULL when the overflow map is full;
 * a new one has count 0 and its comm and cgroup for the caller to fill.
 */
static __always_inline struct sc_value *sc_coarse_lookup(__u32 uid, __u32 nr, const char *comm)
{
	struct sc_coarse_key ckey = { .uid = uid, .nr = nr, .comm_hash = sc_comm_hash(comm) };
	__u32 zero = 0;
	void *stats;

	stats = bpf_map_lookup_elem(&ft_sc_cstats, &zero);
	if (!stats)
		return NULL;
	return sc_upsert(stats, &ckey, &sc_zero_value);
}

/*
 * The overflow slot of (uid, the task's comm, nr), created with the comm and
 * cgroup when new; counted as coarsened. NULL (counted lost) when the
 * overflow map is full too.
 */
static __always_inline struct sc_value *sc_coarse_slot(struct task_struct *task, __u32 uid, __u32 nr)
{
	struct sc_value *v;
	char comm[16];

	ft_task_comm(task, comm);
	v = sc_coarse_lookup(uid, nr, comm);
	if (!v) {
		FT_COUNT_LOST(ft_sc_lost);
		return NULL;
	}
	if (v->count == 0) {
		v->cgroup = ft_task_cgroup(task);
		__builtin_memcpy(v->comm, comm, sizeof(comm));
	}
	FT_COUNT_LOST(ft_sc_coarsened);
	return v;
}

/*
 * Which exit program counts (slot 0): SC_COUNTING_FULL, ft_sc_exit; or
 * SC_COUNTING_ONLY, ft_sc_count, attached alone while the agent has the
 * others detached (duty cycling). User space attaches the one that takes
 * over, flips this, then detaches the other: every exit is counted by
 * exactly one of them.
 */
#define SC_COUNTING_FULL 0
#define SC_COUNTING_ONLY 1
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ft_sc_counting SEC(".maps");

/* Whether exit program `self` (SC_COUNTING_*) is the one that counts now. */
static __always_inline bool sc_counts(__u32 self)
{
	__u32 zero = 0, *counting = bpf_map_lookup_elem(&ft_sc_counting, &zero);

	return counting && *counting == self;
}

SEC("raw_tp/sys_exit")
int ft_sc_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sc_key key = {};
	__u32 *coarse;
	struct sc_value *v;
	struct sc_start *s;
	__u64 delta = 0, ts;
	__u32 zero = 0;
	long ret;
	void *stats;

	s = bpf_task_storage_get(&ft_sc_start, task, 0, 0);
	if (!s)
		return 0;
	if (!sc_counts(SC_COUNTING_FULL)) {
		/* attached beside ft_sc_count for the moment of a switch: that one counts */
		s->nr = SC_NR_NONE;
		s->ts = 0;
		return 0;
	}
	key.nr = s->nr;
	ts = s->ts;
	s->nr = SC_NR_NONE;
	s->ts = 0;
	if (key.nr >= SC_NR_MAX)
		return 0;
	/* entered while detached (duty cycling): counted, but its start is not this window's */
	if (ts && !ft_started_since_attach(ts))
		ts = 0;
	if (ts)
		delta = bpf_ktime_get_ns() - ts;
	key.pid = task->tgid;
	key.uid = ft_task_uid(task);
	ret = (long)ctx->args[1];

	coarse = bpf_map_lookup_elem(&ft_sc_coarse, &zero);
	stats = bpf_map_lookup_elem(&ft_sc_stats, &zero);
	if (!stats || !coarse)
		return 0;
	v = *coarse ? NULL : sc_upsert_pid(stats, &key, &sc_zero_value, 0);
	if (v && v->count == 0) {
		v->cgroup = ft_task_cgroup(task);
		bpf_get_current_comm(v->comm, sizeof(v->comm));
	}
	if (!v) {
		/* the per-process map is full: count it per (uid, comm, syscall) */
		v = sc_coarse_slot(task, key.uid, key.nr);
		if (!v)
			return 0;
	}
	v->count++;
	if (ts) {
		v->timed++;
		v->total_ns += delta;
		v->hist[ft_hist_slot(delta, SC_HIST_SLOTS)]++;
	}
	/* -4095..-1 are errnos (include/linux/err.h: MAX_ERRNO). */
	if (ret < 0 && ret >= -4095)
		sc_count_error(key.pid, key.uid, key.nr, ret, v->comm, *coarse);
	return 0;
}

/* A cache slot's calls, moved to its overflow stats slot (or counted lost, all of them). */
static __always_inline void sc_cache_evict(struct sc_cache_slot *slot)
{
	struct sc_value *v = sc_coarse_lookup(slot->uid, slot->nr, slot->comm);

	if (!v) {
		sc_add_counter(&ft_sc_lost, slot->count);
		return;
	}
	if (v->count == 0) {
		v->cgroup = slot->cgroup;
		__builtin_memcpy(v->comm, slot->comm, sizeof(v->comm));
	}
	v->count += slot->count;
	sc_add_counter(&ft_sc_coarsened, slot->count);
}

static __always_inline bool sc_cache_hit(const struct sc_cache_slot *c, __u32 uid, __u32 nr,
					 const char *comm)
{
	return c->count && c->uid == uid && c->nr == nr &&
	       *(const __u64 *)&c->comm[0] == *(const __u64 *)&comm[0] &&
	       *(const __u64 *)&c->comm[8] == *(const __u64 *)&comm[8];
}

/*
 * Attached alone while the agent has the programs above detached to keep a
 * job within its budget (duty cycling): every call is still counted, untimed,
 * with its error, per (uid, comm, syscall), through the per-CPU cache into
 * the overflow maps, so per-user and per-command totals stay exact; user
 * space scales the latency of the timed calls to the count
 * (scaleSampledLatency). tp_btf: the registers are read directly.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(ft_sc_count, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sc_cache_slot *slot;
	struct sc_cache *cache;
	struct sc_value *v;
	__u32 nr = SC_NR_NONE, uid, zero = 0;
	char comm[16];
	void *caches;

	if (!sc_counts(SC_COUNTING_ONLY) || !ft_filter_task(task))
		return 0;
#if defined(__TARGET_ARCH_x86)
	nr = (__u32)regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	nr = (__u32)regs->syscallno;
#endif
	if (nr >= SC_NR_MAX)
		return 0;
	uid = ft_task_uid(task);
	if (ret < 0 && ret >= -4095) {
		/* errors are rare: counted straight in the overflow maps, with their errno */
		v = sc_coarse_slot(task, uid, nr);
		if (!v)
			return 0;
		v->count++;
		sc_count_error(0, uid, nr, ret, v->comm, true);
		return 0;
	}
	ft_task_comm(task, comm);
	caches = bpf_map_lookup_elem(&ft_sc_cache, &zero);
	if (!caches)
		return 0;
	cache = bpf_map_lookup_elem(caches, &zero);
	if (!cache)
		return 0;
#pragma unroll
	for (int i = 0; i < SC_CACHE_SLOTS; i++) {
		if (sc_cache_hit(&cache->slot[i], uid, nr, comm)) {
			cache->slot[i].count++;
			return 0;
		}
	}
	slot = &cache->slot[cache->next % SC_CACHE_SLOTS];
	cache->next++;
	if (slot->count)
		sc_cache_evict(slot);
	slot->uid = uid;
	slot->nr = nr;
	__builtin_memcpy(slot->comm, comm, sizeof(comm));
	slot->cgroup = ft_task_cgroup(task);
	slot->count = 1;
	return 0;
}
