// SPDX-License-Identifier: Apache-2.0
/**
 * offcpu: time blocked off-CPU per (pid, uid, blocked state, stacks), with the
 * stacks at the moment of blocking (bpf/offcpu/offcpu.bpf.c).
 */
import { formatNs } from '@fleettrace/common';
import { BpfObject, constant } from '@fleettrace/native';
import { Symbolizer } from '@fleettrace/symbols';
import type {
  CollectorDefinition,
  DrainResult,
  HostContext,
  SummaryTable,
} from '../runtime/definition';
import { DoubleBufferControl, perCpuArraySums } from '../runtime/double-buffer';
import { applyKernelFilter, kernelFilterFor } from '../runtime/filters';
import { readChars, readS32, readU32, readU64, readU64Number } from '../runtime/layout';
import { foldedLine, stackNotes, StackResolver, type ResolvedStack } from '../runtime/stacks';
import { BpfSession } from '../runtime/bpf-session';
import { defines, enums, layouts } from './layout.gen';
import { parseParamsWith } from '@fleettrace/collector-spec';
import { manifest } from './manifest';

/** Blocked states by parameter name, valued as enum oc_state in offcpu.h. */
export const STATES = {
  interruptible: enums.oc_state.OC_INTERRUPTIBLE,
  uninterruptible: enums.oc_state.OC_UNINTERRUPTIBLE,
  idle: enums.oc_state.OC_IDLE,
  other: enums.oc_state.OC_OTHER,
} as const;
export type BlockedState = keyof typeof STATES;

export interface OffcpuParams {
  minBlockNs: number;
  states: BlockedState[];
  /** clear the stack map every this many drains (it is also cleared when it fills) */
  stackResetDrains: number;
}

export interface OffcpuRow extends ResolvedStack {
  ts_ns: bigint;
  pid: number;
  uid: number;
  user: string;
  comm: string;
  cgroup: string;
  state: BlockedState;
  blocks: number;
  total_ns: number;
  max_ns: number;
}

const KEY = layouts.oc_key.fields;
const VALUE = layouts.oc_value.fields;
const STATE_NAMES = Object.fromEntries(Object.entries(STATES).map(([k, v]) => [v, k])) as Record<
  number,
  BlockedState
>;

class OffcpuSession extends BpfSession<OffcpuRow> {
  private readonly control: DoubleBufferControl;
  private readonly symbolizer: Symbolizer;
  private lostSeen = 0;
  private stackLostSeen = 0;
  private drains = 0;

  constructor(
    obj: BpfObject,
    private readonly host: HostContext,
    private readonly params: OffcpuParams,
  ) {
    super(obj);
    this.control = new DoubleBufferControl(obj, 'ft_oc_ctl');
    this.symbolizer = host.symbolizer ?? new Symbolizer();
    // kallsyms now, inside the run's warm-up, not at the first kernel stack (in a budget window).
    try {
      this.symbolizer.loadKernelSymbols();
    } catch {
      // unreadable here: kernel frames stay unresolved, as they would at the first stack
    }
  }

  async drain(): Promise<DrainResult<OffcpuRow>> {
    const old = this.control.flip();
    const counts = this.obj.dump(`ft_oc_counts_${old === 0 ? 'a' : 'b'}`, { delete: true });
    const ids = new Set<number>();
    const pids = new Set<number>();
    for (let i = 0; i < counts.count; i++) {
      const key = counts.keys.subarray(i * counts.keySize, (i + 1) * counts.keySize);
      ids.add(readS32(key, KEY.kernel_stack)).add(readS32(key, KEY.user_stack));
      pids.add(readU32(key, KEY.pid));
    }
    // Blocked processes are usually alive: record their mappings before symbolizing.
    for (const pid of pids) this.symbolizer.notePid(pid);
    const stacks = new Map<number, bigint[]>();
    for (const id of ids) {
      if (id < 0) continue;
      const value = this.obj.lookup('ft_oc_stacks', constant.u32(id));
      if (!value) continue;
      const ips: bigint[] = [];
      for (let at = 0; at + 8 <= value.length; at += 8) {
        const ip = value.readBigUInt64LE(at);
        if (ip === 0n) break;
        ips.push(ip);
      }
      stacks.set(id, ips);
    }
    const resolver = new StackResolver(this.symbolizer, stacks, defines.OC_MAX_FRAMES);
    const ts = BigInt(Date.now()) * 1_000_000n;
    const rows: OffcpuRow[] = [];
    for (let i = 0; i < counts.count; i++) {
      const key = counts.keys.subarray(i * counts.keySize, (i + 1) * counts.keySize);
      const value = counts.values.subarray(i * counts.valueSize, (i + 1) * counts.valueSize);
      const pid = readU32(key, KEY.pid);
      const uid = readU32(key, KEY.uid);
      rows.push({
        ts_ns: ts,
        pid,
        uid,
        user: this.host.users.name(uid),
        comm: readChars(value, VALUE.comm),
        cgroup: this.host.cgroups.path(readU64(value, VALUE.cgroup)),
        state: STATE_NAMES[readU32(key, KEY.state)] ?? 'other',
        blocks: readU64Number(value, VALUE.blocks),
        total_ns: readU64Number(value, VALUE.total_ns),
        max_ns: readU64Number(value, VALUE.max_ns),
        ...resolver.resolve(pid, readS32(key, KEY.kernel_stack), readS32(key, KEY.user_stack)),
      });
    }
    const [lostBlocks = 0, lostStacks = 0] = perCpuArraySums(this.obj, 'ft_oc_lost', 2);
    const lost = lostBlocks - this.lostSeen;
    this.lostSeen = lostBlocks;
    // The single stack map is cleared when stacks could not be stored, and periodically.
    this.drains++;
    if (lostStacks > this.stackLostSeen || this.drains % this.params.stackResetDrains === 0) {
      this.control.bumpStackGeneration();
      this.obj.dump('ft_oc_stacks', { delete: true });
    }
    this.stackLostSeen = lostStacks;
    return { rows, lost };
  }
}

function summarize(rows: OffcpuRow[], opts: { top: number; perProcess: boolean }): SummaryTable {
  const merged = new Map<string, OffcpuRow>();
  for (const r of rows) {
    const key = opts.perProcess ? `${r.pid}/${r.state}` : `${r.pid}/${r.state}/${r.stack_id}`;
    const m = merged.get(key);
    if (m) {
      m.total_ns += r.total_ns;
      m.blocks += r.blocks;
      m.max_ns = Math.max(m.max_ns, r.max_ns);
    } else merged.set(key, { ...r });
  }
  const sorted = [...merged.values()].sort((a, b) => b.total_ns - a.total_ns);
  const shown = sorted.slice(0, opts.top);
  return {
    headers: [
      'BLOCKED',
      'BLOCKS',
      'MAX',
      'STATE',
      'PID',
      'COMM',
      'USER',
      ...(opts.perProcess ? [] : ['WHERE']),
    ],
    rows: shown.map((r) => [
      formatNs(r.total_ns),
      r.blocks,
      formatNs(r.max_ns),
      r.state,
      r.pid,
      r.comm,
      r.user,
      ...(opts.perProcess ? [] : [r.kernel_frames[0] ?? r.user_frames[0] ?? (r.missing || '')]),
    ]),
    omitted: sorted.length - shown.length,
    notes: stackNotes(rows, (r) => (r as OffcpuRow).total_ns),
  };
}

export const collector: CollectorDefinition<OffcpuParams, OffcpuRow> = {
  name: 'offcpu',
  description: manifest.description,
  requires: manifest.requires,

  parseParams: (raw, field) => parseParamsWith(manifest.params, manifest.name, raw, field),

  summarize,

  folded(rows) {
    return rows.map((r) => foldedLine(r.comm, r, Math.round(r.total_ns / 1000)));
  },

  pprof(rows, { durationNs }) {
    return {
      sampleTypes: [
        ['blocks', 'count'],
        ['offcpu', 'nanoseconds'],
      ],
      durationNanos: durationNs,
      samples: rows.map((r) => ({
        frames: [...r.kernel_frames, ...r.user_frames],
        values: [r.blocks, r.total_ns],
        labels: { pid: r.pid, comm: r.comm, user: r.user, uid: r.uid, state: r.state },
      })),
    };
  },

  async start({ params, filters, host, mapEntries }) {
    const obj = BpfObject.fromFile(host.bpfObjectPath('offcpu'), 'offcpu');
    try {
      obj.setConstant('oc_min_block_ns', constant.u64(params.minBlockNs));
      obj.setConstant(
        'oc_states',
        constant.u32(params.states.reduce((m, s) => m | (1 << STATES[s]), 0)),
      );
      for (const [map, n] of Object.entries(mapEntries ?? {})) obj.setMaxEntries(map, n);
      await obj.load();
      applyKernelFilter(obj, kernelFilterFor([filters]));
      return new OffcpuSession(obj, host, params).attachDutyCycled();
    } catch (err) {
      obj.closeNow();
      throw err;
    }
  },
};
