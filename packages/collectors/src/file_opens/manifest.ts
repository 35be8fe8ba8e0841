// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';
import { Redactor } from '../runtime/redaction';

const LC = 'LowCardinality(String)';

export const manifest = defineCollector({
  name: 'file_opens',
  description:
    'file opens (open, openat, openat2, creat) with path, flags, fd or errno, per process and user; io_uring opens are not seen',
  role: 'admin',
  sensitiveBecause: 'file paths',
  params: z.strictObject({
    rate: p.integer({
      min: 1,
      max: 10_000_000,
      default: 20_000,
      doc: 'opens per second the kernel side sends at most (the rest are counted lost)',
    }),
    ring_kb: p.integer({
      min: 4,
      max: 1 << 20,
      default: 4096,
      powerOfTwo: true,
      doc: 'ring buffer size in KiB',
    }),
    redact: p.strings({
      doc: 'extra redaction rules for paths (regular expressions, first group = the secret), applied like the defaults',
      check: (list) => void Redactor.withExtra(list, 'redact'),
    }),
  }),
  requires: ['btf', 'tracepoint', 'task_storage', 'ringbuf'],
  minKernel: { version: '5.11', why: 'task storage in tracing programs; ring buffers (5.8)' },
  table: {
    columns: [
      { name: 'tid', type: 'UInt32', doc: 'thread id' },
      { name: 'call', type: LC, doc: 'open, openat, openat2 or creat' },
      { name: 'flags', type: 'String', doc: 'the open flags, as strace prints them' },
      { name: 'mode', type: 'UInt32', doc: 'the mode a created file gets (before the umask)' },
      { name: 'fd', type: 'Int64', doc: 'the file descriptor, or -1 on an error' },
      { name: 'errno', type: LC, doc: "the error's name, empty on success" },
      { name: 'duration_ns', type: 'UInt64', doc: 'time in the call' },
      {
        name: 'has_path',
        type: 'UInt8',
        doc: 'the path was read (it is in the sensitive database)',
      },
    ],
    sortKey: ['uid', 'host', 'ts_ns'],
  },
  sensitive: {
    table: 'file_opens_paths',
    columns: [
      { name: 'tid', type: 'UInt32', doc: 'thread id' },
      { name: 'path', type: 'String', doc: "the path as given, after the agent's redaction" },
      {
        name: 'dfd',
        type: 'Int32',
        doc: 'the directory fd a relative path is relative to (-100: the cwd)',
      },
      { name: 'path_truncated', type: 'UInt8', doc: 'the path was cut at 255 bytes' },
    ],
    sortKey: ['uid', 'host', 'ts_ns'],
  },
  consumes: ['path', 'dfd', 'path_truncated'],
});
