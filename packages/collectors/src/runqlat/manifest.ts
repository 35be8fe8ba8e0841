// SPDX-License-Identifier: Apache-2.0
import { defineCollector, z } from '@fleettrace/collector-spec';

export const manifest = defineCollector({
  name: 'runqlat',
  description: 'run-queue latency (waiting for a CPU) per user and cgroup, as a histogram',
  role: 'operator',
  params: z.strictObject({}),
  alwaysOn: { params: {}, summary: 'runqlat' },
  requires: ['btf', 'tp_btf', 'task_storage', 'map_in_map', 'percpu_hash'],
  minKernel: { version: '5.11', why: 'task storage; tp_btf sched_wakeup/sched_switch (5.5)' },
  table: {
    // Per (uid, cgroup): no pid or comm, it aggregates every task of a user.
    identity: false,
    columns: [
      { name: 'uid', type: 'UInt32', doc: 'user id' },
      { name: 'user', type: 'LowCardinality(String)', doc: "the uid's name on the host" },
      { name: 'cgroup', type: 'LowCardinality(String)', doc: 'cgroup path' },
      { name: 'count', type: 'UInt64', doc: 'waits in the interval' },
      { name: 'total_ns', type: 'UInt64', doc: 'time spent waiting' },
      { name: 'max_ns', type: 'UInt64', doc: 'the longest wait' },
      {
        name: 'hist',
        type: 'Array(UInt64)',
        doc: 'log2 histogram of the waits in ns: slot s counts [2^s, 2^(s+1)) ns',
      },
    ],
    sortKey: ['uid', 'host', 'ts_ns'],
  },
});
