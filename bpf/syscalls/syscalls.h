/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map keys and values of the `syscalls` collector, shared with user space through BTF. */
#ifndef FT_SYSCALLS_H
#define FT_SYSCALLS_H

#define SC_HIST_SLOTS 36 /* log2 ns: the last slot holds everything >= 2^35 ns (~34 s) */

struct sc_key {
	__u32 pid;
	__u32 uid;
	__u32 nr;
	__u32 pad;
};

/* One per-CPU slot; comm and cgroup are filled when the slot first counts. */
struct sc_value {
	__u64 count;
	__u64 timed;    /* calls whose latency was measured: total_ns and hist cover these */
	__u64 total_ns;
	__u64 cgroup;
	char comm[16];
	__u32 hist[SC_HIST_SLOTS];
};

struct sc_err_key {
	__u32 pid;
	__u32 uid;
	__u32 nr;
	__u32 err; /* positive errno */
};

/*
 * Overflow: a call whose (pid, uid, syscall) finds the per-process map full
 * (processes churning faster than the drain empties it) is aggregated here
 * instead, per (uid, comm, syscall[, errno]). comm_hash is FNV-1a of the
 * comm; the comm itself is in the stats value.
 */
struct sc_coarse_key {
	__u32 uid;
	__u32 nr;
	__u32 err;       /* positive errno in the error map, 0 in the stats map */
	__u32 comm_hash;
};

/*
 * ft_sc_count's per-CPU cache of the last SC_CACHE_SLOTS (uid, syscall, comm)
 * it counted: a call of one of them adds to its slot, no hash lookup. A new
 * key takes the oldest slot, whose count goes to the overflow stats map. A
 * slot is in use when its count is not 0.
 */
#define SC_CACHE_SLOTS 4

struct sc_cache_slot {
	__u32 uid;
	__u32 nr;
	char comm[16];
	__u64 cgroup;
	__u64 count;
};

struct sc_cache {
	struct sc_cache_slot slot[SC_CACHE_SLOTS];
	__u64 next; /* the slot a new key takes, mod SC_CACHE_SLOTS */
};

#endif /* FT_SYSCALLS_H */
