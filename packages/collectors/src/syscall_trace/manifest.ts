// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';
import { errnoName, syscallName } from '@fleettrace/common';

const LC = 'LowCardinality(String)';

export const manifest = defineCollector({
  name: 'syscall_trace',
  description:
    'strace -f -T without ptrace: every syscall of a process with decoded arguments, paths, errno, duration',
  role: 'admin',
  sensitiveBecause: 'per-call syscall arguments and paths',
  params: z
    .strictObject({
      rate: p.integer({
        min: 1,
        max: 10_000_000,
        default: 100_000,
        doc: 'events per second the kernel side sends at most (the rest are counted lost)',
      }),
      ring_kb: p.integer({
        min: 4,
        max: 1 << 20,
        default: 4096,
        powerOfTwo: true,
        doc: 'ring buffer size in KiB',
      }),
    })
    .transform((v) => ({ rate: v.rate, ringKb: v.ring_kb })),
  needsFilter: {
    oneOf: ['pid', 'comm'],
    why: 'per-call events of a whole host are neither cheap nor readable',
  },
  requires: ['btf', 'raw_tracepoint', 'task_storage', 'ringbuf'],
  minKernel: { version: '5.11', why: 'the same as `syscalls`, plus ring buffers (5.8)' },
  table: {
    columns: [
      { name: 'tid', type: 'UInt32', doc: 'thread id' },
      { name: 'nr', type: 'UInt32', doc: 'x86_64 syscall number' },
      { name: 'syscall', type: LC, doc: 'its name' },
      { name: 'ret', type: 'Int64', doc: 'the raw return value; -4095…-1 are errors' },
      { name: 'errno', type: LC, doc: "the error's name, empty on success" },
      { name: 'duration_ns', type: 'UInt64', doc: 'time in the call' },
      {
        name: 'has_path',
        type: 'UInt8',
        doc: 'a path argument was read (the path is in the sensitive database)',
      },
    ],
    sortKey: ['uid', 'host', 'ts_ns'],
  },
  sensitive: {
    table: 'syscall_trace_args',
    columns: [
      { name: 'tid', type: 'UInt32', doc: 'thread id' },
      { name: 'nr', type: 'UInt32', doc: 'x86_64 syscall number' },
      { name: 'syscall', type: LC, doc: 'its name' },
      { name: 'args', type: 'Array(UInt64)', doc: 'the six raw argument registers' },
      { name: 'path', type: 'String', doc: 'the path argument as the kernel side read it' },
      { name: 'path_truncated', type: 'UInt8', doc: "the path was cut at the kernel side's limit" },
      {
        name: 'line',
        type: 'String',
        doc: 'the strace-style rendering (not filled yet: `fleettrace trace syscall_trace` prints it)',
      },
    ],
    sortKey: ['uid', 'host', 'ts_ns'],
  },
  derivedFrom: [],
  derive(r) {
    r.syscall = syscallName(Number(r.nr));
    const ret = Number(r.ret);
    r.errno = ret < 0 && ret >= -4095 ? errnoName(-ret) : '';
    r.has_path = r.path !== undefined && r.path !== null;
  },
});
