// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';
import { FilterSyntaxError, parseFilter } from './filter';

/** category:name, as tracefs lists them (sched:sched_process_fork). */
export const TRACEPOINT_NAME = /^[A-Za-z0-9_]+:[A-Za-z0-9_]+$/;

export const manifest = defineCollector({
  name: 'tracepoint',
  description:
    'hits of any kernel tracepoint per user and command, with an optional filter on its fields',
  role: 'operator',
  params: z.strictObject({
    name: p.string({
      doc: 'the tracepoint, category:name as in /sys/kernel/tracing/events (e.g. sched:sched_process_fork)',
      check: (s) => {
        if (!TRACEPOINT_NAME.test(s))
          throw new Error('expected category:name, e.g. sched:sched_process_fork');
      },
    }),
    filter: p.string({
      default: '',
      doc: 'field comparisons joined by && and || (e.g. child_pid > 100 && parent_comm == "bash"); the grammar is in docs/schema.md',
      check: (s) => {
        try {
          parseFilter(s);
        } catch (err) {
          if (err instanceof FilterSyntaxError) throw new Error(`invalid filter ${err.message}`);
          throw err;
        }
      },
    }),
    max_entries: p.integer({
      min: 64,
      max: 1 << 20,
      default: 4096,
      doc: '(uid, comm) keys the kernel map holds between drains',
    }),
  }),
  requires: ['btf', 'tracepoint', 'percpu_hash', 'map_in_map'],
  minKernel: { version: '5.11', why: 'bpf_get_current_task_btf (5.11)' },
  table: {
    identity: false,
    columns: [
      { name: 'uid', type: 'UInt32', doc: 'user id' },
      { name: 'user', type: 'LowCardinality(String)', doc: "the uid's name on the host" },
      { name: 'comm', type: 'LowCardinality(String)', doc: 'process name' },
      { name: 'tracepoint', type: 'LowCardinality(String)', doc: 'category:name' },
      { name: 'filter', type: 'String', doc: 'the filter the hits passed (empty: none)' },
      { name: 'hits', type: 'UInt64', doc: 'hits in the interval' },
    ],
    sortKey: ['tracepoint', 'uid', 'host', 'ts_ns'],
  },
});
