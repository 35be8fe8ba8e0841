// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracepoint: hits of any kernel tracepoint, named at run time (user space
 * attaches this one program to it), per (uid, comm), with an optional filter
 * on the record's fields that this prebuilt program interprets: hosts have no
 * compiler. Hits of the keys in a CPU's small cache (tp_cache) cost no hash
 * lookup. Counts are double-buffered (FT_DB_CTL, caches included).
 */
#include "ft_common.h"
#include "tracepoint.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The filter, set before load: a disjunction of conjunctions evaluated in
 * order (tp_pred.ends_clause closes a && clause); no predicates pass
 * everything. Read-only data, so the verifier prunes what the filter does not use.
 */
const volatile __u32 tp_pred_count = 0;
const volatile struct tp_pred tp_preds[TP_MAX_PREDS] = {};

struct tp_counts_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tp_key);
	__type(value, __u64);
} ft_tp_counts_a SEC(".maps"), ft_tp_counts_b SEC(".maps");

FT_DB_CTL(ft_tp_ctl);

FT_KEY_CACHE_MAP(ft_tp_cache, struct tp_cache);

FT_LOST_MAP(ft_tp_lost);

/* The field as a 64-bit value: read at its own size, sign-extended when signed. */
static __always_inline __u64 tp_read_int(const void *field, __u8 size, bool is_signed)
{
	__u8 u8v = 0;
	__u16 u16v = 0;
	__u32 u32v = 0;
	__u64 u64v = 0;

	switch (size) {
	case 1:
		bpf_probe_read_kernel(&u8v, 1, field);
		return is_signed ? (__u64)(__s64)(__s8)u8v : u8v;
	case 2:
		bpf_probe_read_kernel(&u16v, 2, field);
		return is_signed ? (__u64)(__s64)(__s16)u16v : u16v;
	case 4:
		bpf_probe_read_kernel(&u32v, 4, field);
		return is_signed ? (__u64)(__s64)(__s32)u32v : u32v;
	default:
		bpf_probe_read_kernel(&u64v, 8, field);
		return u64v;
	}
}

static __always_inline bool tp_pred_true(const void *record, const volatile struct tp_pred *p)
{
	const void *field = (const void *)((unsigned long)record + p->offset);

	if (p->kind == TP_CHARS || p->kind == TP_DATA_LOC || p->kind == TP_REL_LOC) {
		char buf[TP_CHARS_MAX] = {};
		__u32 size = p->size, loc = 0;
		bool equal = true;

		if (p->kind != TP_CHARS) {
			/* a dynamic string: where it is and its length with the NUL */
			bpf_probe_read_kernel(&loc, sizeof(loc), field);
			size = loc >> 16;
			field = (const void *)((unsigned long)(p->kind == TP_DATA_LOC ? record : field + 4) +
					       (loc & 0xffff));
			/* longer than any constant (at most 15 bytes and the NUL): never equal */
			if (size > TP_CHARS_MAX)
				return p->op != TP_EQ;
		}
		bpf_probe_read_kernel(buf, sizeof(buf), field);
		for (int i = 0; i < TP_CHARS_MAX; i++) {
			/* the field ends at its size; the constant is NUL-padded */
			char c = i < size ? buf[i] : 0;

			if (c != p->chars[i]) {
				equal = false;
				break;
			}
			if (c == 0)
				break;
		}
		return p->op == TP_EQ ? equal : !equal;
	}
	__u64 x = tp_read_int(field, p->size, p->kind == TP_SIGNED);
	bool lt = p->kind == TP_SIGNED ? (__s64)x < (__s64)p->value : x < p->value;
	bool eq = x == p->value;

	switch (p->op) {
	case TP_EQ:
		return eq;
	case TP_NE:
		return !eq;
	case TP_LT:
		return lt;
	case TP_LE:
		return lt || eq;
	case TP_GT:
		return !lt && !eq;
	default:
		return !lt;
	}
}

static __always_inline bool tp_match(const void *record)
{
	bool clause = true;

	if (tp_pred_count == 0)
		return true;
	for (int i = 0; i < TP_MAX_PREDS; i++) {
		const volatile struct tp_pred *p = &tp_preds[i];

		if (i >= tp_pred_count)
			break;
		if (clause)
			clause = tp_pred_true(record, p);
		if (p->ends_clause) {
			if (clause)
				return true;
			clause = true;
		}
	}
	return false;
}

static __always_inline bool tp_key_equal(const struct tp_key *a, const struct tp_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
}

SEC("tracepoint")
int ft_tp_hit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct tp_cache_slot *slot;
	struct tp_key key = {};
	struct tp_cache *cache;
	struct ft_db_ctl *ctl;
	__u64 none = 0, *hits, *lost;
	__u32 active, zero = 0;
	void *map;

	if (!ft_filter_task(task) || !tp_match(ctx))
		return 0;
	key.uid = ft_task_uid(task);
	ft_task_comm(task, key.comm);
	ctl = ft_db_ctl_get(&ft_tp_ctl);
	active = ctl && ctl->active ? 1 : 0;
	cache = bpf_map_lookup_elem(&ft_tp_cache, &active);
	if (!cache)
		return 0;
#pragma unroll
	for (int i = 0; i < TP_CACHE_SLOTS; i++) {
		struct tp_cache_slot *c = &cache->slot[i];

		if (c->used && tp_key_equal(&c->key, &key)) {
			c->value++;
			return 0;
		}
	}
	/* a new key on this CPU: it takes the oldest slot, whose hits go to the counts map */
	slot = &cache->slot[cache->next % TP_CACHE_SLOTS];
	cache->next++;
	if (slot->used) {
		map = active ? (void *)&ft_tp_counts_b : (void *)&ft_tp_counts_a;
		hits = ft_lookup_or_init(map, &slot->key, &none);
		if (hits) {
			*hits += slot->value;
		} else {
			lost = bpf_map_lookup_elem(&ft_tp_lost, &zero);
			if (lost)
				*lost += slot->value; /* every hit the slot held */
		}
	}
	slot->key = key;
	slot->value = 1;
	slot->used = 1;
	return 0;
}
