// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';

export const BLOCKED_STATES = ['interruptible', 'uninterruptible', 'idle', 'other'] as const;
import { STACK_COLUMNS } from '../runtime/stack-columns';

export const manifest = defineCollector({
  name: 'offcpu',
  description: 'time blocked off-CPU per process, user, state (S/D) and stack',
  role: 'operator',
  params: z
    .strictObject({
      min_block: p.duration({
        maxMs: 60_000,
        default: 1,
        doc: 'shortest block reported, as a duration (1ms)',
      }),
      states: p.names({
        values: BLOCKED_STATES,
        default: ['interruptible', 'uninterruptible'],
        doc: 'task states counted',
      }),
      stack_reset_drains: p.integer({
        min: 1,
        max: 1_000_000,
        default: 60,
        doc: 'clear the stack map every this many drains',
      }),
    })
    .transform((v) => ({
      minBlockNs: Math.round(v.min_block * 1e6),
      states: v.states,
      stackResetDrains: v.stack_reset_drains,
    })),
  alwaysOn: {
    params: { states: 'uninterruptible', min_block: '1ms' },
    summary: 'offcpu D >= 1 ms',
  },
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
