// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Deliberately invalid: dereferences a map lookup result without a NULL
 * check. The verifier must refuse it and the addon must surface its log.
 */
#include "ft_common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} ft_bad_map SEC(".maps");

SEC("raw_tp/sys_enter")
int ft_bad_deref(void *ctx)
{
	__u32 key = 1;
	__u64 *v = bpf_map_lookup_elem(&ft_bad_map, &key);

	return *v ? 1 : 0;
}
