// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';

/** binary:symbol (a path, or a name looked up like a command or a library) or pid:symbol. */
export const UPROBE_TARGET = /^([^:]+):([A-Za-z_.$][A-Za-z0-9_.$@]*)$/;

export const manifest = defineCollector({
  name: 'uprobe',
  description:
    'calls and latency histogram of one user-space function (binary:symbol or pid:symbol) per process',
  role: 'operator',
  params: z.strictObject({
    target: p.string({
      doc: 'the function: /path/to/binary:symbol, a command or library name (php-fpm:zend_execute, libc.so.6:malloc), or pid:symbol for one running process',
      check: (s) => {
        if (!UPROBE_TARGET.test(s))
          throw new Error(
            'expected binary:symbol or pid:symbol, e.g. /usr/sbin/nginx:ngx_http_process_request',
          );
      },
    }),
    max_entries: p.integer({
      min: 64,
      max: 1 << 20,
      default: 4096,
      doc: '(pid, uid, comm) keys the kernel map holds between drains',
    }),
  }),
  requires: ['btf', 'uprobe', 'task_storage', 'percpu_hash', 'map_in_map'],
  minKernel: { version: '5.11', why: 'task storage in tracing programs; bpf_get_current_task_btf' },
  table: {
    columns: [
      {
        name: 'target',
        type: 'LowCardinality(String)',
        doc: 'binary:symbol (or pid:symbol) as asked',
      },
      { name: 'calls', type: 'UInt64', doc: 'entries into the function in the interval' },
      {
        name: 'returns',
        type: 'UInt64',
        doc: 'returns timed (a recursive call times the innermost)',
      },
      { name: 'total_ns', type: 'UInt64', doc: 'time in the function over the timed returns' },
      { name: 'max_ns', type: 'UInt64', doc: 'the longest call' },
      {
        name: 'hist',
        type: 'Array(UInt64)',
        doc: 'log2 histogram of call latency in ns: slot s counts [2^s, 2^(s+1)) ns',
      },
    ],
    sortKey: ['uid', 'target', 'host', 'ts_ns'],
  },
});
