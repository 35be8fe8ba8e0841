// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';

const LC = 'LowCardinality(String)';

export const manifest = defineCollector({
  name: 'tcp',
  description:
    'TCP connections (open to close: duration, bytes in and out, connect latency) and retransmits, IPv4 and IPv6, with the owning process',
  role: 'operator',
  params: z.strictObject({
    ring_kb: p.integer({
      min: 4,
      max: 1 << 20,
      default: 1024,
      powerOfTwo: true,
      doc: 'ring buffer size in KiB',
    }),
    max_connections: p.integer({
      min: 64,
      max: 1 << 22,
      default: 65536,
      doc: 'open connections followed at once (more are counted lost)',
    }),
  }),
  requires: ['btf', 'tp_btf', 'tracepoint', 'ringbuf'],
  minKernel: {
    version: '5.11',
    why: 'tp_btf inet_sock_set_state and tcp_retransmit_skb (5.5); ring buffers (5.8)',
  },
  table: {
    columns: [
      { name: 'event', type: LC, doc: 'close (a connection ended) or retransmit' },
      { name: 'family', type: LC, doc: 'ipv4 or ipv6' },
      { name: 'saddr', type: 'String', doc: 'local address' },
      { name: 'sport', type: 'UInt16', doc: 'local port' },
      { name: 'daddr', type: 'String', doc: 'remote address' },
      { name: 'dport', type: 'UInt16', doc: 'remote port' },
      {
        name: 'role',
        type: LC,
        doc: 'active (this host connected), passive (accepted), unknown (opened before the run)',
      },
      {
        name: 'state',
        type: LC,
        doc: 'the TCP state: at the retransmit, or that the connection closed from',
      },
      { name: 'duration_ns', type: 'UInt64', doc: "close: the connection's life" },
      { name: 'connect_ns', type: 'UInt64', doc: 'close, active side: SYN sent to established' },
      { name: 'bytes_in', type: 'UInt64', doc: 'close: bytes received' },
      { name: 'bytes_out', type: 'UInt64', doc: 'close: bytes the peer acknowledged' },
    ],
    sortKey: ['event', 'uid', 'host', 'ts_ns'],
  },
});
