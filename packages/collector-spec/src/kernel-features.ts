// SPDX-License-Identifier: Apache-2.0
/**
 * The kernel features fleettrace probes for (the probe itself, which loads
 * programs, is in @fleettrace/collectors' runtime). docs/kernels.md gives
 * the first mainline kernel of each.
 */
export const KERNEL_FEATURES = [
  'btf',
  'tracepoint',
  'raw_tracepoint',
  'tp_btf',
  'kprobe',
  'fentry',
  'uprobe',
  'perf_event_software',
  'perf_event_hardware',
  'ringbuf',
  'task_storage',
  'map_in_map',
  'stack_trace',
  'percpu_hash',
  'bpf_stats_fd',
] as const;

export type KernelFeature = (typeof KERNEL_FEATURES)[number];
