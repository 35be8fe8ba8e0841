// SPDX-License-Identifier: Apache-2.0
/**
 * file_opens: every open of the filtered tasks with its path (read at the
 * call's exit), flags, mode, fd or errno and duration
 * (bpf/file_opens/file_opens.bpf.c), like `opensnoop`. Paths go through the
 * agent's redaction rules and into the sensitive database. io_uring opens
 * do not pass through the open syscalls: the run says they are not seen.
 */
import { errnoName } from '@fleettrace/common';
import { BpfObject, constant, numPossibleCpus } from '@fleettrace/native';
import { parseParamsWith } from '@fleettrace/collector-spec';
import { LruCache } from '@fleettrace/symbols';
import type { CollectorDefinition, HostContext, SummaryTable } from '../runtime/definition';
import { decodeHeader, RingSession, type EventIdentity } from '../runtime/events';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readU64Number } from '../runtime/layout';
import { Redactor } from '../runtime/redaction';
import { openFlagsToString } from '../syscall_trace/syscall-args';
import { enums, layouts } from './layout.gen';
import { manifest } from './manifest';

export interface FileOpenRow extends EventIdentity {
  call: string;
  flags: string;
  mode: number;
  fd: number;
  errno: string;
  duration_ns: number;
  has_path: boolean;
  path?: string;
  path_truncated?: boolean;
  dfd: number;
}

type Params = ReturnType<typeof parseParams>;

function parseParams(raw: Record<string, unknown>, field: string) {
  return parseParamsWith(manifest.params, manifest.name, raw, field);
}

export const IO_URING_NOTE =
  'io_uring opens (IORING_OP_OPENAT) are not seen: they do not pass through the open syscalls';

const CALLS: Record<number, string> = {
  [enums.fo_call.FO_OPENAT]: 'openat',
  [enums.fo_call.FO_OPENAT2]: 'openat2',
  [enums.fo_call.FO_OPEN]: 'open',
  [enums.fo_call.FO_CREAT]: 'creat',
};
const E = layouts.fo_event.fields;

function setRate(obj: BpfObject, perSecond: number): void {
  obj.update(
    'ft_fo_rate',
    constant.u32(0),
    constant.u64(Math.max(1, Math.ceil(perSecond / numPossibleCpus()))),
  );
}

/**
 * The decoder of one session. Paths and flag sets repeat (a server opens the
 * same files again and again): each raw path's redaction (about 1.3 µs) and
 * each flag set's text are kept, paths in a bounded LRU shown in /metrics.
 */
function decoder(host: HostContext, redactor: Redactor) {
  const paths = new LruCache<string, string>(4096, {
    name: 'file_opens.paths',
    maxBytes: 2 << 20,
    sizeOf: (v, k) => 2 * (k.length + v.length) + 64,
  });
  const flagTexts = new Map<bigint, string>();
  const flagsText = (raw: bigint): string => {
    let text = flagTexts.get(raw);
    if (text === undefined) {
      text = openFlagsToString(raw);
      if (flagTexts.size >= 256) flagTexts.clear(); // flag sets are few; a bound all the same
      flagTexts.set(raw, text);
    }
    return text;
  };
  const redacted = (raw: string): string => {
    let path = paths.get(raw);
    if (path === undefined) {
      path = redactor.redactArgv([raw]).argv[0]!;
      paths.set(raw, path);
    }
    return path;
  };
  return (r: Buffer, offsetNs: bigint): FileOpenRow => {
    const id = decodeHeader(layouts.ft_event_header, r, host, offsetNs);
    const ret = Number(r.readBigInt64LE(E.ret.offset));
    const pathLen = r.readUInt32LE(E.path_len.offset);
    // Object.assign, not a spread: `{ ...id, x }` costs ~6 us a row in V8 (see proc's decoder)
    const row: FileOpenRow = Object.assign(id, {
      call: CALLS[r.readUInt32LE(layouts.ft_event_header.fields.kind.offset)] ?? 'open',
      flags: flagsText(r.readBigUInt64LE(E.flags.offset)),
      mode: r.readUInt32LE(E.mode.offset),
      fd: ret < 0 ? -1 : ret,
      errno: ret < 0 && ret >= -4095 ? errnoName(-ret) : '',
      duration_ns: readU64Number(r, E.duration_ns),
      has_path: pathLen > 0,
      dfd: r.readInt32LE(E.dfd.offset),
    });
    if (pathLen > 0) {
      const end = E.path.offset + Math.min(pathLen, E.path.size);
      const nul = r.indexOf(0, E.path.offset);
      const raw = r.toString('utf8', E.path.offset, nul >= 0 && nul < end ? nul : end);
      row.path = redacted(raw);
      // bpf_probe_read_user_str filled the whole buffer: the path went on.
      row.path_truncated = pathLen >= E.path.size;
    }
    return row;
  };
}

function summarize(rows: FileOpenRow[], opts: { top: number }): SummaryTable {
  const shown = rows.slice(-opts.top);
  return {
    headers: ['PID', 'COMM', 'UID', 'FD', 'ERR', 'FLAGS', 'PATH'],
    rows: shown.map((r) => [r.pid, r.comm, r.uid, r.fd, r.errno, r.flags, r.path ?? '']),
    omitted: rows.length - shown.length,
    notes: [IO_URING_NOTE],
  };
}

export const collector: CollectorDefinition<Params, FileOpenRow> = {
  name: 'file_opens',
  description: manifest.description,
  requires: manifest.requires,
  parseParams,
  summarize,

  async start({ params, filters, host, mapEntries }) {
    const redactor = Redactor.withExtra(params.redact, 'params.redact');
    const obj = BpfObject.fromFile(host.bpfObjectPath('file_opens'), 'file_opens');
    try {
      obj.setMaxEntries('ft_fo_events', params.ring_kb * 1024);
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      setRate(obj, params.rate);
      obj.attachAll();
      let rate = params.rate;
      const session = new RingSession<FileOpenRow>({
        obj,
        ringMap: 'ft_fo_events',
        lost: { 'ring buffer full': ['ft_fo_lost', 0], 'rate limit': ['ft_fo_lost', 1] },
        decode: decoder(host, redactor),
        degrade() {
          if (rate <= 10) return undefined;
          const before = rate;
          rate = Math.max(10, Math.floor(rate / 10));
          setRate(obj, rate);
          return `file_opens: event rate limit lowered from ${before}/s to ${rate}/s`;
        },
      });
      return Object.assign(session, { notes: [IO_URING_NOTE] });
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
