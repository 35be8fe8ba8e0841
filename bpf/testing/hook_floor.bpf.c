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

/* The floor of the counters collector: an empty program on a perf event. */
SEC("perf_event")
int ft_floor_perf_event(void *ctx)
{
	return 0;
}
