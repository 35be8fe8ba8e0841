// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';
import { STACK_COLUMNS } from '../runtime/stack-columns';

export const manifest = defineCollector({
  name: 'cpu_profile',
  description:
    'sampled on-CPU kernel and user stacks per process and user (perf_event cpu-clock), symbolized on the host',
  role: 'operator',
  params: z.strictObject({
    hz: p.integer({ min: 1, max: 1000, default: 49, doc: 'samples per second per CPU' }),
    stream: p.boolean({
      default: false,
      doc: "also emit every sample with its stacks (the flight recorder's stream)",
    }),
  }),
  alwaysOn: { params: { hz: 19 }, summary: 'cpu_profile 19 Hz' },
  requires: ['btf', 'perf_event_software', 'stack_trace', 'ringbuf', 'map_in_map'],
  minKernel: {
    version: '5.8',
    why: 'ring buffer for new-process notices; perf_event programs 4.9',
  },
  table: {
    columns: [
      { name: 'samples', type: 'UInt64', doc: 'samples in the interval' },
      { name: 'cpu_ns', type: 'UInt64', doc: 'the CPU time they stand for (samples × 1e9 / Hz)' },
      ...STACK_COLUMNS,
    ],
    sortKey: ['uid', 'host', 'ts_ns'],
  },
  stacks: true,
});
