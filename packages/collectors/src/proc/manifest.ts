// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';
import { Redactor } from '../runtime/redaction';

const LC = 'LowCardinality(String)';

export const manifest = defineCollector({
  name: 'proc',
  description:
    'process exec (with redacted args), exit (code, signal, core), fork, signals sender -> target, OOM kills',
  role: 'admin',
  sensitiveBecause: 'exec arguments',
  params: z
    .strictObject({
      include_sigchld: p.boolean({
        default: false,
        doc: 'also report SIGCHLD (every child exit sends one: noisy)',
      }),
      redact: p.strings({
        doc: 'extra redaction rules (regular expressions, first group = the secret), applied like the defaults',
        check: (list) => {
          try {
            Redactor.withExtra(list, '');
          } catch (err) {
            throw new Error((err as Error).message);
          }
        },
      }),
      ring_kb: p.integer({
        min: 4,
        max: 1 << 20,
        default: 512,
        powerOfTwo: true,
        doc: 'ring buffer size in KiB',
      }),
    })
    .transform((v) => ({ includeSigchld: v.include_sigchld, redact: v.redact, ringKb: v.ring_kb })),
  alwaysOn: { params: {}, summary: 'proc' },
  requires: ['btf', 'tp_btf', 'ringbuf'],
  minKernel: {
    version: '5.8',
    why: 'ring buffer, tp_btf (5.5); OOM kill events need 6.8 (`oom:mark_victim` with the victim task)',
  },
  table: {
    columns: [
      { name: 'tid', type: 'UInt32', doc: 'thread id' },
      { name: 'event', type: LC, doc: '`exec`, `exit`, `fork`, `signal`, `oom_kill`' },
      { name: 'ppid', type: 'UInt32', for: 'exec, exit', doc: 'parent pid' },
      { name: 'exe', type: LC, for: 'exec', doc: 'executable base name' },
      { name: 'argc', type: 'UInt32', for: 'exec', doc: 'argument count' },
      { name: 'args_truncated', type: 'UInt8', for: 'exec', doc: 'arguments were cut' },
      { name: 'redacted', type: 'UInt32', for: 'exec', doc: 'secrets masked in the arguments' },
      {
        name: 'exit_code',
        type: 'Nullable(Int32)',
        for: 'exit',
        doc: 'exit status, NULL when a signal ended the process',
      },
      {
        name: 'signal',
        type: 'UInt32',
        for: 'exit, signal',
        doc: 'the terminating signal (exit, 0 if none) or the signal sent',
      },
      { name: 'signal_name', type: LC, for: 'exit, signal', doc: 'its name (`SIGKILL`)' },
      { name: 'core_dumped', type: 'UInt8', for: 'exit', doc: 'a core was dumped' },
      { name: 'lifetime_ns', type: 'UInt64', for: 'exit', doc: 'how long the process lived' },
      { name: 'child_pid', type: 'UInt32', for: 'fork', doc: 'the new process' },
      {
        name: 'signal_result',
        type: 'UInt8',
        for: 'signal',
        doc: '0 delivered, 1 ignored, 2 already pending, 3 overflow, 4 lost info',
      },
      { name: 'target_pid', type: 'UInt32', for: 'signal', doc: 'who received it: pid' },
      { name: 'target_tid', type: 'UInt32', for: 'signal', doc: 'thread id' },
      { name: 'target_uid', type: 'UInt32', for: 'signal', doc: 'uid' },
      { name: 'target_user', type: LC, for: 'signal', doc: 'user name' },
      { name: 'target_comm', type: LC, for: 'signal', doc: 'process name' },
      { name: 'target_cgroup', type: LC, for: 'signal', doc: 'cgroup' },
      { name: 'total_vm_kb', type: 'UInt64', for: 'oom_kill', doc: "the victim's virtual memory" },
      {
        name: 'anon_rss_kb',
        type: 'UInt64',
        for: 'oom_kill',
        doc: 'its anonymous resident memory',
      },
      {
        name: 'file_rss_kb',
        type: 'UInt64',
        for: 'oom_kill',
        doc: 'its file-backed resident memory',
      },
      { name: 'shmem_rss_kb', type: 'UInt64', for: 'oom_kill', doc: 'its shared memory' },
      {
        name: 'trigger_pid',
        type: 'UInt32',
        for: 'oom_kill',
        doc: 'the task whose allocation triggered the kill',
      },
      { name: 'trigger_comm', type: LC, for: 'oom_kill', doc: 'its name' },
    ],
    sortKey: ['event', 'uid', 'host', 'ts_ns'],
  },
  sensitive: {
    table: 'proc_exec',
    when: { field: 'event', equals: 'exec' },
    columns: [
      { name: 'tid', type: 'UInt32', doc: 'thread id' },
      { name: 'filename', type: 'String', doc: 'the executable as exec was given it (full path)' },
      {
        name: 'argv',
        type: 'Array(String)',
        doc: "the arguments after the agent's redaction of secrets",
      },
      { name: 'args_truncated', type: 'UInt8', doc: 'arguments were cut' },
    ],
    sortKey: ['uid', 'host', 'ts_ns'],
  },
  consumes: ['filename', 'argv'],
  renames: { result: 'signal_result' },
  derivedFrom: ['filename', 'argv'],
  derive(r) {
    const filename = typeof r.filename === 'string' ? r.filename : '';
    r.exe = filename.slice(filename.lastIndexOf('/') + 1);
    r.argc = Array.isArray(r.argv) ? r.argv.length : 0;
  },
});
