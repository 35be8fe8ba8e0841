// SPDX-License-Identifier: Apache-2.0
/**
 * syscall_trace: strace-like per-call events for filtered processes, at a
 * fraction of strace's cost (no ptrace stop per call): name, decoded
 * arguments, path strings, return value or errno, duration
 * (bpf/syscall_trace/syscall_trace.bpf.c). A pid or comm filter is required:
 * per-call events of a whole host are neither cheap nor readable.
 */
import { syscallNumber, ValidationError } from '@fleettrace/common';
import { BpfObject, constant, numPossibleCpus } from '@fleettrace/native';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { decodeHeader, RingSession } from '../runtime/events';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readU64Number } from '../runtime/layout';
import { defines, layouts } from './layout.gen';
import { pathArgumentIndex, type SyscallEvent } from './syscall-args';
import { formatCall } from './strace-format';
import { parseParamsWith } from '@fleettrace/collector-spec';
import { manifest } from './manifest';

export interface SyscallTraceParams {
  /** events per second for the whole host; calls beyond it are counted, not traced */
  rate: number;
  ringKb: number;
}

export type SyscallTraceRow = SyscallEvent;

const NR_MAX = defines.ST_NR_MAX;
const NR_EXECVE = syscallNumber('execve');
const NR_EXECVEAT = syscallNumber('execveat');
const E = layouts.st_event.fields;

/** The kernel side's per-CPU token bucket rate, from a host-wide events-per-second figure. */
function setRate(obj: BpfObject, perSecond: number): void {
  obj.update(
    'ft_st_rate',
    constant.u32(0),
    constant.u64(Math.max(1, Math.ceil(perSecond / numPossibleCpus()))),
  );
}

/** Path-argument table for the kernel side, from the single TypeScript source. */
export function pathArgumentTable(): Buffer {
  const table = Buffer.alloc(NR_MAX);
  for (let nr = 0; nr < NR_MAX; nr++) table.writeInt8(pathArgumentIndex(nr), nr);
  return table;
}

function decoder(host: HostContext) {
  // Hot path (every traced call): plain reads into one object; rendering
  // (formatCall) happens only when a row is shown.
  return (r: Buffer, offsetNs: bigint): SyscallTraceRow => {
    const ev = decodeHeader(layouts.ft_event_header, r, host, offsetNs) as SyscallEvent;
    const argsAt = E.args.offset;
    ev.args = [
      r.readBigUInt64LE(argsAt),
      r.readBigUInt64LE(argsAt + 8),
      r.readBigUInt64LE(argsAt + 16),
      r.readBigUInt64LE(argsAt + 24),
      r.readBigUInt64LE(argsAt + 32),
      r.readBigUInt64LE(argsAt + 40),
    ];
    ev.nr = r.readUInt32LE(E.nr.offset);
    ev.ret = r.readBigInt64LE(E.ret.offset);
    ev.duration_ns = readU64Number(r, E.duration_ns);
    const pathLen = r.readUInt32LE(E.path_len.offset);
    if (pathLen > 0) {
      const end = E.path.offset + Math.min(pathLen, E.path.size);
      const nul = r.indexOf(0, E.path.offset);
      ev.path = r.toString('utf8', E.path.offset, nul >= 0 && nul < end ? nul : end);
      // bpf_probe_read_user_str filled the whole buffer: the path went on.
      ev.path_truncated = pathLen >= E.path.size;
    }
    return ev;
  };
}

function summarize(rows: SyscallTraceRow[], opts: { top: number }): SummaryTable {
  const shown = rows.slice(-opts.top);
  return {
    headers: ['CALL'],
    rows: shown.map((r) => [formatCall(r)]),
    omitted: rows.length - shown.length,
  };
}

export const collector: CollectorDefinition<SyscallTraceParams, SyscallTraceRow> = {
  name: 'syscall_trace',
  description: manifest.description,
  requires: manifest.requires,
  needsFilter: manifest.needsFilter,

  parseParams: (raw, field) => parseParamsWith(manifest.params, manifest.name, raw, field),

  summarize,

  async start({ params, filters, host, mapEntries }) {
    if (filters.pid === undefined && filters.comm === undefined) {
      throw new ValidationError(
        'filters',
        'syscall_trace needs a pid or comm filter (--pid N or --comm NAME)',
      );
    }
    const obj = BpfObject.fromFile(host.bpfObjectPath('syscall_trace'), 'syscall_trace');
    try {
      obj.setConstant('st_path_arg', pathArgumentTable());
      const atEntry = Buffer.alloc(NR_MAX);
      atEntry[NR_EXECVE] = 1;
      atEntry[NR_EXECVEAT] = 1;
      obj.setConstant('st_path_at_entry', atEntry);
      obj.setMaxEntries('ft_st_events', params.ringKb * 1024);
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      setRate(obj, params.rate);
      obj.attachAll();
      let rate = params.rate;
      return new RingSession<SyscallTraceRow>({
        obj,
        ringMap: 'ft_st_events',
        lost: { 'ring buffer full': ['ft_st_lost', 0], 'rate limit': ['ft_st_lost', 1] },
        decode: decoder(host),
        degrade() {
          if (rate <= 10) return undefined;
          const before = rate;
          rate = Math.max(10, Math.floor(rate / 10));
          setRate(obj, rate);
          return `syscall_trace: event rate limit lowered from ${before}/s to ${rate}/s`;
        },
      });
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
