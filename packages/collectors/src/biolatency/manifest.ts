// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';

export const manifest = defineCollector({
  name: 'biolatency',
  description:
    'block I/O latency (issue to completion) per disk, operation and issuing user, as a histogram with bytes',
  role: 'operator',
  params: z.strictObject({
    max_requests: p.integer({
      min: 64,
      max: 1 << 20,
      default: 16384,
      doc: 'requests in flight the kernel side can follow at once (more are counted lost)',
    }),
  }),
  requires: ['btf', 'tp_btf', 'percpu_hash', 'map_in_map'],
  minKernel: {
    version: '5.11',
    why: 'tp_btf block_rq_issue/complete with the request (5.5); task BTF (5.11)',
  },
  table: {
    identity: false,
    columns: [
      {
        name: 'device',
        type: 'LowCardinality(String)',
        doc: 'the disk (vda, nvme0n1), or major:minor',
      },
      { name: 'op', type: 'LowCardinality(String)', doc: 'read, write, flush, discard or other' },
      {
        name: 'uid',
        type: 'UInt32',
        doc: 'the user of the task that issued the request to the driver (0: a kernel worker, e.g. writeback)',
      },
      { name: 'user', type: 'LowCardinality(String)', doc: "the uid's name on the host" },
      { name: 'count', type: 'UInt64', doc: 'requests completed in the interval' },
      { name: 'bytes', type: 'UInt64', doc: 'their size' },
      { name: 'total_ns', type: 'UInt64', doc: 'time from issue to completion, summed' },
      { name: 'max_ns', type: 'UInt64', doc: 'the slowest request' },
      {
        name: 'hist',
        type: 'Array(UInt64)',
        doc: 'log2 histogram of the latency in ns: slot s counts [2^s, 2^(s+1)) ns',
      },
    ],
    sortKey: ['device', 'op', 'host', 'ts_ns'],
  },
});
