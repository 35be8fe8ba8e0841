/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A per-CPU token bucket for collectors that send one event per call: the
 * rate (events per second per CPU, 0 = no limit) is slot 0 of an array map
 * the agent may lower while attached (degrade), the bucket a per-CPU array.
 * A burst of a tenth of a second's worth is allowed, at least one event.
 */
#ifndef FT_RATE_H
#define FT_RATE_H

struct ft_rate_bucket {
	__u64 tokens; /* in millionths of an event, to refill smoothly */
	__u64 last_ns;
};

#define FT_RATE_UNIT 1000000ULL

#define FT_RATE_MAPS(rate, bucket)                       \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);        \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, __u64);                    \
	} rate SEC(".maps");                             \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, struct ft_rate_bucket);    \
	} bucket SEC(".maps")

static __always_inline bool ft_rate_admit(void *rate_map, void *bucket_map)
{
	__u32 zero = 0;
	struct ft_rate_bucket *b;
	__u64 now, burst, elapsed, *slot, per_cpu;

	slot = bpf_map_lookup_elem(rate_map, &zero);
	per_cpu = slot ? *slot : 0;
	if (!per_cpu)
		return true;
	b = bpf_map_lookup_elem(bucket_map, &zero);
	if (!b)
		return false;
	now = bpf_ktime_get_ns();
	burst = (per_cpu / 10 + 1) * FT_RATE_UNIT;
	elapsed = now - b->last_ns;
	if (elapsed > 1000000000ULL)
		elapsed = 1000000000ULL;
	b->tokens += elapsed * per_cpu / 1000; /* ns * ev/s * 1e6 / 1e9 */
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ns = now;
	if (b->tokens < FT_RATE_UNIT)
		return false;
	b->tokens -= FT_RATE_UNIT;
	return true;
}

#endif /* FT_RATE_H */
