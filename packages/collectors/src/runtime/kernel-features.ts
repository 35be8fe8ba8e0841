// SPDX-License-Identifier: Apache-2.0
/**
 * What this kernel can do, measured rather than guessed from its version: each
 * attach kind is probed by loading and attaching a no-op program from
 * bpf/features/features.bpf.o; map and program types and helpers through
 * libbpf's probes. Anything absent is reported as absent with the kernel's
 * reason, and collectors that need it are refused before they start.
 * docs/kernels.md lists the first kernel version of each feature.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import {
  BpfObject,
  features,
  libbpfVersion,
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_COUNT_SW_CPU_CLOCK,
  PERF_TYPE_HARDWARE,
  PERF_TYPE_SOFTWARE,
  RunTimeStats,
  type NativeError,
} from '@fleettrace/native';

import { KERNEL_FEATURES, type KernelFeature } from '@fleettrace/collector-spec';

export { KERNEL_FEATURES, type KernelFeature };

export interface FeatureState {
  present: boolean;
  /** why it is absent, in the kernel's words */
  reason?: string;
}

export interface KernelFeatureReport {
  kernel: string;
  libbpf: string;
  features: Record<KernelFeature, FeatureState>;
  programTypes: Record<string, boolean>;
  mapTypes: Record<string, boolean>;
  /** helpers fleettrace uses, probed for raw_tracepoint programs */
  helpers: Record<string, boolean>;
}

const HELPERS_USED = [
  'ringbuf_reserve',
  'ringbuf_submit',
  'task_storage_get',
  'get_current_task_btf',
  'ktime_get_boot_ns',
  'get_stackid',
  'get_stack',
  'probe_read_user_str',
  'probe_read_kernel',
  'get_current_cgroup_id',
];

const ATTACH_PROBES: Array<[KernelFeature, string]> = [
  ['tracepoint', 'ft_probe_tp'],
  ['raw_tracepoint', 'ft_probe_rawtp'],
  ['tp_btf', 'ft_probe_tpbtf'],
  ['kprobe', 'ft_probe_kprobe'],
  ['fentry', 'ft_probe_fentry'],
  ['uprobe', 'ft_probe_uprobe'],
  ['perf_event_software', 'ft_probe_perf'],
];

function libcPath(): string | undefined {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const path = line.split(/\s+/)[5];
    if (path && /\/libc[.-]/.test(path)) return path;
  }
  return undefined;
}

async function probeAttach(
  objectPath: string,
  program: string,
  feature: KernelFeature,
): Promise<FeatureState> {
  const obj = BpfObject.fromFile(objectPath, 'ft_features');
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, p.name === program);
    await obj.load();
    if (feature === 'perf_event_software') {
      obj.attachPerfEvent(program, {
        type: PERF_TYPE_SOFTWARE,
        config: PERF_COUNT_SW_CPU_CLOCK,
        frequency: 1,
      });
    } else if (feature === 'uprobe') {
      const libc = libcPath();
      if (!libc) return { present: false, reason: 'no libc mapped to probe' };
      obj.attachUprobe(program, { binary: libc, symbol: 'getpid', pid: process.pid });
    } else {
      obj.attach(program);
    }
    return { present: true };
  } catch (err) {
    const e = err as NativeError;
    return { present: false, reason: `${e.operation ?? 'probe'}: ${e.code ?? e.message}` };
  } finally {
    obj.closeNow();
  }
}

const TRACEFS = '/sys/kernel/tracing';

/**
 * Tracepoints attach through tracefs (libbpf reads event ids there). Mounts it
 * when missing, as the design asks of the agent; returns why not when that fails.
 */
export function ensureTracefs(): string | undefined {
  if (existsSync(`${TRACEFS}/events`)) return undefined;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS], { stdio: 'pipe' });
    return existsSync(`${TRACEFS}/events`) ? undefined : `${TRACEFS}/events missing after mount`;
  } catch (err) {
    return `tracefs is not mounted at ${TRACEFS} and mounting it failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

export async function probeKernelFeatures(
  featuresObjectPath: string,
): Promise<KernelFeatureReport> {
  const tracefsProblem = ensureTracefs();
  const programTypes = features.programTypes();
  const mapTypes = features.mapTypes();
  const ids = features.kernelHelpers();
  const helpers: Record<string, boolean> = {};
  for (const h of HELPERS_USED)
    helpers[h] = ids[h] !== undefined && features.helper('raw_tracepoint', ids[h] as number);

  const state = {} as Record<KernelFeature, FeatureState>;
  state.btf = existsSync('/sys/kernel/btf/vmlinux')
    ? { present: true }
    : { present: false, reason: 'no /sys/kernel/btf/vmlinux' };
  for (const [feature, program] of ATTACH_PROBES)
    state[feature] = await probeAttach(featuresObjectPath, program, feature);
  if (tracefsProblem && !state.tracepoint.present) state.tracepoint.reason = tracefsProblem;
  const hw = features.perfEvent(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES);
  state.perf_event_hardware =
    hw === 0
      ? { present: true }
      : { present: false, reason: `perf_event_open(cpu-cycles): errno ${hw} (no hardware PMU)` };
  const mapFeature = (type: string): FeatureState =>
    mapTypes[type] ? { present: true } : { present: false, reason: `map type ${type} refused` };
  state.ringbuf = mapFeature('ringbuf');
  state.task_storage = mapFeature('task_storage');
  state.map_in_map = mapFeature('array_of_maps');
  state.stack_trace = mapFeature('stack_trace');
  state.percpu_hash = mapFeature('percpu_hash');
  state.bpf_stats_fd = probeStatsFd();
  return {
    kernel: release(),
    libbpf: libbpfVersion(),
    features: state,
    programTypes,
    mapTypes,
    helpers,
  };
}

function probeStatsFd(): FeatureState {
  try {
    new RunTimeStats().close();
    return { present: true };
  } catch (err) {
    return { present: false, reason: (err as Error).message };
  }
}

/** Features a collector needs that the report says are absent. */
export function missingFeatures(
  report: KernelFeatureReport,
  needed: readonly KernelFeature[],
): KernelFeature[] {
  return needed.filter((f) => !report.features[f].present);
}
