// SPDX-License-Identifier: Apache-2.0
import { defineCollector, p, z } from '@fleettrace/collector-spec';

export const manifest = defineCollector({
  name: 'syscalls',
  description:
    'calls, errors and latency histograms per process, user and syscall (like strace -c / syscount)',
  role: 'operator',
  params: z
    .strictObject({
      max_entries: p.integer({
        min: 1,
        max: 1 << 20,
        default: 10240,
        doc: '(pid, uid, syscall) keys the kernel map holds between drains',
      }),
      max_timed_per_tick: p.integer({
        min: 0,
        max: 1 << 20,
        default: 16,
        doc: 'calls of a task timed per scheduler tick (0 = every call)',
      }),
      overflow_entries: p.integer({
        min: 1,
        max: 1 << 20,
        default: 4096,
        doc: '(uid, comm, syscall) keys for calls that do not fit the per-process map',
      }),
      count_while_detached: p.boolean({
        default: true,
        doc: 'when the agent duty-cycles the collector, keep counting every call (untimed, per uid, comm and syscall) while it is detached: exact totals, at about half the full programs cost on every call of the host (the agent turns it off when that does not fit the budget)',
      }),
    })
    .transform((v) => ({
      maxEntries: v.max_entries,
      maxTimedPerTick: v.max_timed_per_tick,
      overflowEntries: v.overflow_entries,
      countWhileDetached: v.count_while_detached,
    })),
  alwaysOn: { params: {}, summary: 'syscalls' },
  requires: ['btf', 'raw_tracepoint', 'task_storage', 'map_in_map', 'percpu_hash'],
  minKernel: { version: '5.11', why: 'task storage, `bpf_get_current_task_btf()`' },
  table: {
    columns: [
      { name: 'nr', type: 'UInt32', doc: 'x86_64 syscall number' },
      { name: 'syscall', type: 'LowCardinality(String)', doc: 'its name' },
      { name: 'count', type: 'UInt64', doc: 'calls in the interval' },
      { name: 'errors', type: 'UInt64', doc: 'calls that failed' },
      { name: 'total_ns', type: 'UInt64', doc: 'time spent in them (see below)' },
      {
        name: 'hist',
        type: 'Array(UInt64)',
        doc: '36 log2 latency slots: slot s counts calls in [2^s, 2^(s+1)) ns',
      },
      { name: 'errno_names', type: 'Array(String)', doc: 'errno names of the failures' },
      { name: 'errno_counts', type: 'Array(UInt64)', doc: 'failures of each, same order' },
    ],
    sortKey: ['uid', 'syscall', 'host', 'ts_ns'],
  },
  consumes: ['errnos'],
  derivedFrom: [],
  derive(r) {
    const errnos = (r.errnos ?? {}) as Record<string, number>;
    r.errno_names = Object.keys(errnos);
    r.errno_counts = Object.values(errnos);
  },
});
