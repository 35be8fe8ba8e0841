// SPDX-License-Identifier: Apache-2.0
/**
 * proc: exec, exit, fork, signals and OOM kills (bpf/proc/proc.bpf.c).
 * Exec arguments are redacted here, in the agent, before any row leaves it.
 */
import { formatNs, signalName } from '@fleettrace/common';
import { BpfObject, constant, type NativeError } from '@fleettrace/native';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { decodeHeader, headerKind, RingSession, type EventIdentity } from '../runtime/events';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readChars, readS32, readU32, readU64, readU64Number } from '../runtime/layout';
import { Redactor } from '../runtime/redaction';
import { enums, layouts } from './layout.gen';
import { parseParamsWith } from '@fleettrace/collector-spec';
import { manifest } from './manifest';

export interface ProcParams {
  includeSigchld: boolean;
  /**
   * extra redaction rules (regular expressions, first group = secret), applied
   * like the defaults: to every word, every occurrence, inside `sh -c` strings too
   */
  redact: string[];
  ringKb: number;
}

export type ProcRow =
  | (EventIdentity & {
      event: 'exec';
      ppid: number;
      filename: string;
      argv: string[];
      args_truncated: boolean;
      /** how many secrets were masked (overlapping finds count once) */
      redacted: number;
    })
  | (EventIdentity & {
      event: 'exit';
      ppid: number;
      /** exit status when the process exited normally, else null */
      exit_code: number | null;
      /** terminating signal, 0 when it exited normally */
      signal: number;
      signal_name: string;
      core_dumped: boolean;
      lifetime_ns: number;
    })
  | (EventIdentity & { event: 'fork'; child_pid: number })
  | (EventIdentity & {
      /** the identity fields are the sender's */
      event: 'signal';
      signal: number;
      signal_name: string;
      /** TRACE_SIGNAL_* result: 0 delivered, 1 ignored, 2 already pending, 3 overflow, 4 lose info */
      result: number;
      target_pid: number;
      target_tid: number;
      target_uid: number;
      target_user: string;
      target_comm: string;
      target_cgroup: string;
    })
  | (EventIdentity & {
      /** the identity fields are the victim's */
      event: 'oom_kill';
      total_vm_kb: number;
      anon_rss_kb: number;
      file_rss_kb: number;
      shmem_rss_kb: number;
      trigger_pid: number;
      trigger_comm: string;
    });

const K = enums.proc_kind;
const KIND = {
  exec: K.PROC_EXEC,
  exit: K.PROC_EXIT,
  fork: K.PROC_FORK,
  signal: K.PROC_SIGNAL,
  oom: K.PROC_OOM,
} as const;
/** The loss cause of events a degraded session counts instead of reporting. */
export const QUIETED = 'not reported while degraded (forks, clean exits, repeated execs)';
const H = layouts.ft_event_header;
const EXEC = layouts.proc_exec_event.fields;
const EXIT = layouts.proc_exit_event.fields;
const FORK = layouts.proc_fork_event.fields;
const SIG = layouts.proc_signal_event.fields;
const OOM = layouts.proc_oom_event.fields;

/**
 * Hot path (one call per event): rows are the header object extended with
 * Object.assign. An object spread followed by more properties (`{ ...id, x }`)
 * took ~2.8 us per row in V8 here, 50 times this, and left objects that
 * JSON.stringify walks slowly.
 */
function decoder(host: HostContext, redactor: Redactor) {
  return (r: Buffer, offsetNs: bigint): ProcRow | undefined => {
    const id = decodeHeader(H, r, host, offsetNs);
    switch (headerKind(H, r)) {
      case KIND.exec: {
        const size = readU32(r, EXEC.args_size);
        const raw = r.subarray(EXEC.args.offset, EXEC.args.offset + size).toString('utf8');
        const parts = raw.split('\0');
        if (parts[parts.length - 1] === '') parts.pop();
        const { argv, masked } = redactor.redactArgv(parts);
        return Object.assign(id, {
          event: 'exec' as const,
          ppid: readU32(r, EXEC.ppid),
          filename: readChars(r, EXEC.filename),
          argv,
          args_truncated: readU32(r, EXEC.args_truncated) !== 0,
          redacted: masked,
        });
      }
      case KIND.exit: {
        // task->exit_code: (status << 8) for exit(), the signal (| 0x80 with a core dump) otherwise.
        const code = readU32(r, EXIT.exit_code);
        const signal = code & 0x7f;
        return Object.assign(id, {
          event: 'exit' as const,
          ppid: readU32(r, EXIT.ppid),
          exit_code: signal === 0 ? (code >> 8) & 0xff : null,
          signal,
          signal_name: signal ? signalName(signal) : '',
          core_dumped: (code & 0x80) !== 0,
          lifetime_ns: readU64Number(r, EXIT.lifetime_ns),
        });
      }
      case KIND.fork:
        return Object.assign(id, { event: 'fork' as const, child_pid: readU32(r, FORK.child_pid) });
      case KIND.signal: {
        const sig = readU32(r, SIG.sig);
        const targetUid = readU32(r, SIG.target_uid);
        return Object.assign(id, {
          event: 'signal' as const,
          signal: sig,
          signal_name: signalName(sig),
          result: readS32(r, SIG.result),
          target_pid: readU32(r, SIG.target_pid),
          target_tid: readU32(r, SIG.target_tid),
          target_uid: targetUid,
          target_user: host.users.name(targetUid),
          target_comm: readChars(r, SIG.target_comm),
          target_cgroup: host.cgroups.path(readU64(r, SIG.target_cgroup)),
        });
      }
      case KIND.oom:
        return Object.assign(id, {
          event: 'oom_kill' as const,
          total_vm_kb: readU64Number(r, OOM.total_vm_kb),
          anon_rss_kb: readU64Number(r, OOM.anon_rss_kb),
          file_rss_kb: readU64Number(r, OOM.file_rss_kb),
          shmem_rss_kb: readU64Number(r, OOM.shmem_rss_kb),
          trigger_pid: readU32(r, OOM.trigger_pid),
          trigger_comm: readChars(r, OOM.trigger_comm),
        });
      default:
        return undefined;
    }
  };
}

function detail(r: ProcRow): string {
  switch (r.event) {
    case 'exec':
      return `${r.filename} ${JSON.stringify(r.argv)}${r.args_truncated ? ' (args truncated)' : ''} ppid=${r.ppid}`;
    case 'exit':
      return r.signal
        ? `killed by ${r.signal_name}${r.core_dumped ? ' (core dumped)' : ''} after ${formatNs(r.lifetime_ns)}`
        : `exit ${r.exit_code} after ${formatNs(r.lifetime_ns)}`;
    case 'fork':
      return `child ${r.child_pid}`;
    case 'signal':
      return `${r.signal_name} -> ${r.target_pid} ${r.target_comm} (uid ${r.target_uid} ${r.target_user})`;
    case 'oom_kill':
      return `OOM victim, anon ${r.anon_rss_kb} kB file ${r.file_rss_kb} kB shmem ${r.shmem_rss_kb} kB, cgroup ${r.cgroup || '/'}, triggered by ${r.trigger_pid} ${r.trigger_comm}`;
  }
}

function summarize(rows: ProcRow[], opts: { top: number }): SummaryTable {
  const sorted = [...rows].sort((a, b) => (a.ts_ns < b.ts_ns ? -1 : a.ts_ns > b.ts_ns ? 1 : 0));
  const shown = sorted.slice(-opts.top);
  return {
    headers: ['TIME', 'EVENT', 'PID', 'COMM', 'USER', 'DETAIL'],
    rows: shown.map((r) => [
      new Date(Number(r.ts_ns / 1_000_000n)).toISOString().slice(11, 23),
      r.event,
      r.pid,
      r.comm,
      r.user,
      detail(r),
    ]),
    omitted: sorted.length - shown.length,
  };
}

export const collector: CollectorDefinition<ProcParams, ProcRow> = {
  name: 'proc',
  description: manifest.description,
  requires: manifest.requires,

  parseParams: (raw, field) => parseParamsWith(manifest.params, manifest.name, raw, field),

  summarize,

  async start({ params, filters, host, mapEntries }) {
    const open = (withOom: boolean) => {
      const obj = BpfObject.fromFile(host.bpfObjectPath('proc'), 'proc');
      obj.setConstant('proc_include_sigchld', constant.u8(params.includeSigchld ? 1 : 0));
      obj.setMaxEntries('ft_proc_events', params.ringKb * 1024);
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      if (!withOom) obj.setAutoload('ft_proc_oom', false);
      return obj;
    };
    let obj = open(true);
    try {
      await obj.load();
    } catch (err) {
      // oom:mark_victim passes the victim task only since Linux 6.8: without it, OOM kills are unsupported here.
      obj.closeNow();
      if ((err as NativeError).program !== 'ft_proc_oom') throw err;
      obj = open(false);
      await obj.load();
      process.emitWarning(
        'proc: OOM kill events are unsupported on this kernel (oom:mark_victim has no task argument)',
      );
    }
    try {
      applyKernelFilter(obj, kernelFilterFor([filters]));
      obj.attachAll();
      let quiet = false;
      return new RingSession<ProcRow>({
        obj,
        ringMap: 'ft_proc_events',
        lost: {
          'ring buffer full': ['ft_proc_lost', 0],
          [QUIETED]: ['ft_proc_quieted', 0],
        },
        decode: decoder(host, Redactor.withExtra(params.redact)),
        // Under process churn the agent's per-event work (and the store's) is
        // most of the cost: keep what explains a crash or a storm (each distinct
        // exec, failures, signals, OOM kills), count the rest.
        degrade: () => {
          if (quiet) return undefined;
          quiet = true;
          obj.update('ft_proc_quiet', constant.u32(0), constant.u32(1));
          return (
            `proc: forks, clean exits (status 0) and repeats within 1 s of a reported exec (same user, file and arguments) ` +
            `counted as "${QUIETED}", not reported; other execs, failed or killed exits, signals and OOM kills still are`
          );
        },
      });
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
