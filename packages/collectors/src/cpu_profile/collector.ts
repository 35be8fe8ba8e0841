// SPDX-License-Identifier: Apache-2.0
/**
 * cpu_profile: sampled on-CPU stacks per (pid, uid, cgroup, stack), from
 * perf_event cpu-clock sampling on every CPU (bpf/cpu_profile/cpu_profile.bpf.c).
 *
 * Symbolization runs here, on the host: kernel frames from /proc/kallsyms,
 * user frames from the ELF symbol tables of the mapped files. A process's
 * mappings are recorded when its first sample arrives, so processes that exit
 * before the drain are still symbolized. Interpreter and JIT frames (PHP,
 * Python, Node.js) show as their native frames or as [anon]: they are not
 * resolved to script functions.
 */
import {
  BpfObject,
  PERF_COUNT_SW_CPU_CLOCK,
  PERF_TYPE_SOFTWARE,
  bootTimeOffsetNs,
  type RingBufferReader,
} from '@fleettrace/native';
import { Symbolizer } from '@fleettrace/symbols';
import type {
  CollectorDefinition,
  DrainResult,
  HostContext,
  SummaryTable,
} from '../runtime/definition';
import { DoubleBufferControl, perCpuArraySums } from '../runtime/double-buffer';
import { decodeHeader, headerKind, type EventIdentity } from '../runtime/events';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readChars, readS32, readU32, readU64, readU64Number } from '../runtime/layout';
import {
  foldedLine,
  stackNotes,
  readStackMap,
  StackResolver,
  type ResolvedStack,
} from '../runtime/stacks';
import { BpfSession } from '../runtime/bpf-session';
import { defines, enums, layouts } from './layout.gen';
import { parseParamsWith } from '@fleettrace/collector-spec';
import { manifest } from './manifest';

export interface CpuProfileParams {
  /** samples per second per CPU */
  hz: number;
  /** also emit every sample with its stacks (the flight recorder's stream) */
  stream: boolean;
}

export interface CpuProfileRow extends ResolvedStack {
  /** end of the interval, UTC Unix ns */
  ts_ns: bigint;
  pid: number;
  uid: number;
  user: string;
  comm: string;
  cgroup: string;
  samples: number;
  /** samples * 1e9 / hz: the CPU time the samples stand for */
  cpu_ns: number;
}

/** One sample of the per-sample stream (params.stream). */
export interface CpuSample extends EventIdentity {
  cpu: number;
  kernel_ips: bigint[];
  user_ips: bigint[];
}

const KEY = layouts.cp_key.fields;
const VALUE = layouts.cp_value.fields;
const EVENT = layouts.cp_event.fields;
const KIND_NEW_ADDRESS_SPACE = enums.cp_event_kind.CP_NEW_ADDRESS_SPACE;
const KIND_SAMPLE = enums.cp_event_kind.CP_SAMPLE;

export class CpuProfileSession extends BpfSession<CpuProfileRow> {
  private readonly control: DoubleBufferControl;
  private readonly reader: RingBufferReader;
  private readonly symbolizer: Symbolizer;
  private samples: CpuSample[] = [];
  private lostSeen = 0;
  private offsetNs = bootTimeOffsetNs();
  /** stacks whose user part was cut short by missing frame pointers, since the start */
  truncatedStacks = 0;
  private links: number[] = [];

  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
    private params: CpuProfileParams,
  ) {
    super(obj);
    this.control = new DoubleBufferControl(obj, 'ft_cp_ctl');
    this.symbolizer = host.symbolizer ?? new Symbolizer();
    // kallsyms now, inside the run's warm-up, not at the first kernel stack (in a budget window).
    try {
      this.symbolizer.loadKernelSymbols();
    } catch {
      // unreadable here: kernel frames stay unresolved, as they would at the first stack
    }
    this.reader = obj.openRingBuffer('ft_cp_events', (records) => {
      for (const r of records) {
        const kind = headerKind(layouts.ft_event_header, r);
        const header = decodeHeader(layouts.ft_event_header, r, host, this.offsetNs);
        if (kind === KIND_NEW_ADDRESS_SPACE) {
          // A new (pid, mm): a new process, a reused pid or an exec. Read its mappings afresh.
          this.symbolizer.refreshPid(header.pid);
        } else if (kind === KIND_SAMPLE) {
          this.samples.push(
            Object.assign(header, {
              cpu: readU32(r, EVENT.cpu),
              kernel_ips: ips(r, EVENT.kernel_ips.offset, readU32(r, EVENT.kernel_frames)),
              user_ips: ips(r, EVENT.user_ips.offset, readU32(r, EVENT.user_frames)),
            }),
          );
        }
      }
    });
    if (params.stream) this.control.setStream(true);
  }

  /** Attaches the sampler on every CPU at the current rate; a fixed period (not perf's frequency mode) keeps samples proportional to CPU time. */
  attachSampler(): void {
    for (const link of this.links) this.obj.detach(link);
    this.links = this.obj.attachPerfEvent('ft_cp_sample', {
      type: PERF_TYPE_SOFTWARE,
      config: PERF_COUNT_SW_CPU_CLOCK,
      period: Math.round(1e9 / this.params.hz),
    });
  }

  /**
   * Halves the sampling rate (down to 1 Hz). Rows drained afterwards report
   * cpu_ns at the new rate; samples of the current interval taken at the old
   * rate are weighted at the new one, an error bounded by one interval.
   */
  degrade(): string | undefined {
    if (this.params.hz <= 1) return undefined;
    const before = this.params.hz;
    this.params = { ...this.params, hz: Math.max(1, Math.floor(before / 2)) };
    this.attachSampler();
    return `cpu_profile: sampling lowered from ${before} Hz to ${this.params.hz} Hz`;
  }

  /** Stream samples received since the last call (empty unless params.stream). */
  takeSamples(): CpuSample[] {
    const out = this.samples;
    this.samples = [];
    return out;
  }

  async drain(): Promise<DrainResult<CpuProfileRow>> {
    this.offsetNs = bootTimeOffsetNs();
    // Every pending "new address space" event (and streamed sample) first.
    await this.reader.flush();
    const old = this.control.flip();
    const suffix = old === 0 ? 'a' : 'b';
    const counts = this.obj.dump(`ft_cp_counts_${suffix}`, { delete: true });
    const stacks = readStackMap(this.obj, `ft_cp_stacks_${suffix}`, { delete: true });
    const resolver = new StackResolver(this.symbolizer, stacks, defines.CP_MAX_FRAMES);
    const ts = BigInt(Date.now()) * 1_000_000n;
    const rows: CpuProfileRow[] = [];
    for (let i = 0; i < counts.count; i++) {
      const key = counts.keys.subarray(i * counts.keySize, (i + 1) * counts.keySize);
      const value = counts.values.subarray(i * counts.valueSize, (i + 1) * counts.valueSize);
      const pid = readU32(key, KEY.pid);
      const uid = readU32(key, KEY.uid);
      const stack = resolver.resolve(
        pid,
        readS32(key, KEY.kernel_stack),
        readS32(key, KEY.user_stack),
      );
      const samples = readU64Number(value, VALUE.samples);
      if (stack.truncated) this.truncatedStacks++;
      rows.push({
        ts_ns: ts,
        pid,
        uid,
        user: this.host.users.name(uid),
        comm: readChars(value, VALUE.comm),
        cgroup: this.host.cgroups.path(readU64(key, KEY.cgroup)),
        samples,
        cpu_ns: Math.round((samples * 1e9) / this.params.hz),
        ...stack,
      });
    }
    const lost = perCpuArraySums(this.obj, 'ft_cp_lost', 3);
    // Samples not counted (full map) and stream events not emitted are lost events;
    // stacks not captured still count their sample, under a "lost" stack.
    const total = (lost[0] ?? 0) + (lost[1] ?? 0);
    const delta = total - this.lostSeen;
    this.lostSeen = total;
    return { rows, lost: delta };
  }
}

function ips(record: Buffer, offset: number, count: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < count && offset + i * 8 + 8 <= record.length; i++)
    out.push(record.readBigUInt64LE(offset + i * 8));
  return out;
}

function leaf(r: CpuProfileRow): string {
  return r.kernel_frames[0] ?? r.user_frames[0] ?? (r.missing || '[no frames]');
}

function summarize(
  rows: CpuProfileRow[],
  opts: { top: number; perProcess: boolean },
): SummaryTable {
  const merged = new Map<string, CpuProfileRow>();
  for (const r of rows) {
    const key = opts.perProcess ? `${r.pid}` : `${r.pid}/${r.stack_id}`;
    const m = merged.get(key);
    if (m) m.samples += r.samples;
    else merged.set(key, { ...r });
  }
  const total = rows.reduce((a, r) => a + r.samples, 0) || 1;
  const sorted = [...merged.values()].sort((a, b) => b.samples - a.samples);
  const shown = sorted.slice(0, opts.top);
  return {
    headers: opts.perProcess
      ? ['SAMPLES', '%', 'PID', 'COMM', 'USER']
      : ['SAMPLES', '%', 'PID', 'COMM', 'USER', 'LEAF FRAME', 'DEPTH'],
    rows: shown.map((r) => [
      r.samples,
      ((100 * r.samples) / total).toFixed(1),
      r.pid,
      r.comm,
      r.user,
      ...(opts.perProcess
        ? []
        : [
            leaf(r),
            `${r.kernel_frames.length}k+${r.user_depth}u${r.truncated ? ' truncated' : ''}`,
          ]),
    ]),
    omitted: sorted.length - shown.length,
    notes: stackNotes(rows, (r) => (r as CpuProfileRow).samples),
  };
}

export const collector: CollectorDefinition<CpuProfileParams, CpuProfileRow> = {
  name: 'cpu_profile',
  description: manifest.description,
  requires: manifest.requires,

  parseParams: (raw, field) => parseParamsWith(manifest.params, manifest.name, raw, field),

  summarize,

  folded(rows) {
    return rows.map((r) => foldedLine(r.comm, r, r.samples));
  },

  pprof(rows, { durationNs }) {
    const hz =
      rows.length && rows[0]!.samples ? Math.round((rows[0]!.samples * 1e9) / rows[0]!.cpu_ns) : 49;
    return {
      sampleTypes: [
        ['samples', 'count'],
        ['cpu', 'nanoseconds'],
      ],
      periodType: ['cpu', 'nanoseconds'],
      period: Math.round(1e9 / hz),
      durationNanos: durationNs,
      samples: rows.map((r) => ({
        frames: [...r.kernel_frames, ...r.user_frames],
        values: [r.samples, r.cpu_ns],
        labels: {
          pid: r.pid,
          comm: r.comm,
          user: r.user,
          uid: r.uid,
          ...(r.truncated ? { truncated: 'true' } : {}),
        },
      })),
    };
  },

  async start({ params, filters, host, mapEntries }) {
    const obj = BpfObject.fromFile(host.bpfObjectPath('cpu_profile'), 'cpu_profile');
    try {
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      const session = new CpuProfileSession(obj, host, params);
      session.attachSampler();
      return session;
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
