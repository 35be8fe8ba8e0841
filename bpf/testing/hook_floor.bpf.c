// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Empty programs on the hooks fleettrace collectors use: what merely being
 * attached costs (the floor). Benchmarks attach them beside the collectors in
 * the same rounds and report each collector's added cost as a multiple of it.
 * Not a collector.
 */
#include "ft_common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("raw_tp/sys_enter")
int ft_floor_enter(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_exit")
int ft_floor_exit(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int ft_floor_switch(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int ft_floor_wakeup(void *ctx)
{
	return 0;
}

/*
 * The counters collector's floor: its events counting on every CPU, stored
 * here as the collector stores them, and ft_floor_switch. ft_floor_perf_event
 * is the floor of a sampling program (an empty program on each event).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} ft_floor_counting SEC(".maps");

SEC("perf_event")
int ft_floor_perf_event(void *ctx)
{
	return 0;
}

/* The floors of the tracepoint, file_opens, uprobe, biolatency and tcp collectors. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int ft_floor_tp_getppid(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int ft_floor_openat_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int ft_floor_openat_exit(void *ctx)
{
	return 0;
}

SEC("uprobe")
int ft_floor_uprobe(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int ft_floor_uretprobe(void *ctx)
{
	return 0;
}

SEC("tp_btf/block_rq_issue")
int ft_floor_rq_issue(void *ctx)
{
	return 0;
}

SEC("tp_btf/block_rq_complete")
int ft_floor_rq_complete(void *ctx)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int ft_floor_sock_state(void *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int ft_floor_retransmit(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int ft_floor_accept4(void *ctx)
{
	return 0;
}
