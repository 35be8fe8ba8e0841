// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test program for the native ring-buffer reader: one event per getppid()
 * of the filtered process, failed reservations counted in ft_rb_lost.
 * Not a collector; built so tests can exercise the addon on the real kernel.
 */
#include "ft_common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NR_GETPPID 110

struct rb_test_event {
	struct ft_event_header hdr;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ft_rb_events SEC(".maps");

FT_LOST_MAP(ft_rb_lost);

__u64 ft_rb_seq = 0;

SEC("raw_tp/sys_enter")
int ft_rb_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct ft_filter_cfg *cfg;
	struct rb_test_event *e;
	__u32 zero = 0;

	if (ctx->args[1] != NR_GETPPID)
		return 0;
	/* only ever for the test's own workload: a pid filter is required */
	cfg = bpf_map_lookup_elem(&ft_filter, &zero);
	if (!cfg || !(cfg->flags & FT_FILTER_PID))
		return 0;
	if (!ft_filter_task(bpf_get_current_task_btf()))
		return 0;
	e = bpf_ringbuf_reserve(&ft_rb_events, sizeof(*e), 0);
	if (!e) {
		FT_COUNT_LOST(ft_rb_lost);
		return 0;
	}
	ft_fill_header(&e->hdr, 1);
	e->seq = __sync_fetch_and_add(&ft_rb_seq, 1);
	ft_ringbuf_submit(e, &ft_rb_events);
	return 0;
}
