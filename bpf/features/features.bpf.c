// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attach-type probes. The agent loads and attaches one program at a time;
 * whether that works is the answer. Each program does nothing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_getppid")
int ft_probe_tp(void *ctx) { return 0; }

SEC("raw_tp/sys_enter")
int ft_probe_rawtp(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int ft_probe_tpbtf(void *ctx) { return 0; }

SEC("kprobe/do_nanosleep")
int ft_probe_kprobe(void *ctx) { return 0; }

SEC("fentry/do_nanosleep")
int ft_probe_fentry(void *ctx) { return 0; }

SEC("perf_event")
int ft_probe_perf(void *ctx) { return 0; }

SEC("uprobe")
int ft_probe_uprobe(void *ctx) { return 0; }
