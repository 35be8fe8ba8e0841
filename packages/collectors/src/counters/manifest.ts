// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';

/** Software events exist on every kernel with perf events; hardware ones need a PMU. */
export const SOFTWARE_EVENTS = [
  'page_faults',
  'context_switches',
  'cpu_migrations',
  'task_clock',
] as const;
export const HARDWARE_EVENTS = ['cycles', 'instructions', 'cache_misses'] as const;
export type CounterEvent = (typeof SOFTWARE_EVENTS)[number] | (typeof HARDWARE_EVENTS)[number];

export const manifest = defineCollector({
  name: 'counters',
  description:
    'perf counters per process or cgroup, counted exactly (perf stat --bpf-counters style): software events everywhere, hardware ones where the host has a PMU',
  role: 'operator',
  params: z.strictObject({
    events: p.names({
      values: [...SOFTWARE_EVENTS, ...HARDWARE_EVENTS],
      default: [...SOFTWARE_EVENTS],
      doc: 'events to count; hardware events are reported unsupported on hosts without a PMU, and the others still counted',
    }),
    per_cgroup: p.boolean({
      default: false,
      doc: 'count per cgroup (and uid) instead of per process',
    }),
    max_entries: p.integer({
      min: 64,
      max: 1 << 20,
      default: 8192,
      doc: '(pid, uid, cgroup, comm) keys the kernel map holds between drains',
    }),
  }),
  requires: ['btf', 'tp_btf', 'perf_event_software', 'percpu_hash', 'map_in_map'],
  minKernel: {
    version: '5.11',
    why: 'bpf_get_current_task_btf (5.11); tp_btf (5.5); bpf_perf_event_read_value (4.15)',
  },
  table: {
    columns: [
      {
        name: 'event',
        type: 'LowCardinality(String)',
        doc: 'the counter: page_faults, context_switches, cpu_migrations, task_clock, cycles, instructions, cache_misses',
      },
      {
        name: 'value',
        type: 'UInt64',
        doc: 'its count in the interval (task_clock: ns on the CPU)',
      },
      {
        name: 'samples',
        type: 'UInt64',
        doc: 'the count before scaling: value = samples × period (equal to value: counts are exact)',
      },
      { name: 'period', type: 'UInt64', doc: 'the scaling step: 1, counts are exact' },
    ],
    sortKey: ['uid', 'event', 'host', 'ts_ns'],
  },
});
