// SPDX-License-Identifier: Apache-2.0
import { defineCollector } from '@fleettrace/collector-spec';
import { STACK_COLUMNS } from '../runtime/stack-columns';

export const manifest = defineCollector({
  name: 'offcpu',
  description: 'time blocked off-CPU per process, user, state (S/D) and stack',
  role: 'operator',
  requires: ['btf', 'tp_btf', 'task_storage', 'stack_trace', 'map_in_map'],
  minKernel: {
    version: '5.11',
    why: 'task storage; `__state` (5.14) or `state` through CO-RE',
  },
  table: {
    columns: [
      {
        name: 'state',
        type: 'LowCardinality(String)',
        doc: 'blocked state: interruptible (S) or uninterruptible (D)',
      },
      { name: 'blocks', type: 'UInt64', doc: 'times blocked in the interval' },
      { name: 'total_ns', type: 'UInt64', doc: 'time blocked' },
      { name: 'max_ns', type: 'UInt64', doc: 'the longest block' },
      ...STACK_COLUMNS,
    ],
    sortKey: ['uid', 'state', 'host', 'ts_ns'],
  },
  stacks: true,
});
