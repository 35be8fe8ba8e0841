// SPDX-License-Identifier: Apache-2.0
/**
 * The capabilities the collectors need (DESIGN.md "Security"; the agent's
 * systemd unit and the Helm DaemonSet grant exactly these), checked against
 * the process's effective set before anything is loaded. Without the check a
 * missing capability shows up as EPERM deep in libbpf, which reads like a
 * kernel without BPF; with it the operator reads which capability is missing
 * and what it is for.
 */
import { readFileSync } from 'node:fs';

export interface Capability {
  name: string;
  bit: number;
  /** what fleettrace uses it for, in words for people */
  purpose: string;
  /** needed only on kernels older than this [major, minor] */
  neededBefore?: [number, number];
}

/** In DESIGN.md's order; deploy/systemd/fleettrace-agent.service lists the same names. */
export const AGENT_CAPABILITIES: readonly Capability[] = [
  { name: 'CAP_BPF', bit: 39, purpose: 'loading BPF programs and maps' },
  {
    name: 'CAP_PERFMON',
    bit: 38,
    purpose: 'tracing programs and perf_event sampling (cpu_profile)',
  },
  {
    name: 'CAP_SYS_ADMIN',
    bit: 21,
    purpose: 'BPF run-time statistics (the overhead figures) and cgroup lookups',
  },
  { name: 'CAP_SYSLOG', bit: 34, purpose: 'kernel symbol addresses in /proc/kallsyms' },
  {
    name: 'CAP_SYS_PTRACE',
    bit: 19,
    purpose: "other users' process maps and executables (user stacks, syscall_trace)",
  },
  {
    name: 'CAP_DAC_READ_SEARCH',
    bit: 2,
    purpose: "other users' binaries for symbols, and their /proc entries",
  },
  {
    name: 'CAP_SYS_RESOURCE',
    bit: 24,
    purpose: 'raising the locked-memory limit for maps',
    // 5.11 accounts BPF memory to the memory cgroup instead of RLIMIT_MEMLOCK.
    neededBefore: [5, 11],
  },
];

export interface CapabilityReport {
  /** the effective set, as /proc/self/status CapEff shows it */
  effective: string;
  held: string[];
  missing: Capability[];
  /** absent, but this kernel does not need them (Capability.neededBefore) */
  notNeeded: string[];
  /** capabilities this kernel does not know (older than CAP_BPF/CAP_PERFMON): not required */
  unknownToKernel: string[];
}

/** The agent's capabilities against `/proc/self/status` (or the given text, for tests). */
export function agentCapabilities(
  status = readFileSync('/proc/self/status', 'utf8'),
  lastCap = readLastCap(),
  kernel = readKernelVersion(),
): CapabilityReport {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  const eff = BigInt(`0x${hex}`);
  const held: string[] = [];
  const missing: Capability[] = [];
  const unknownToKernel: string[] = [];
  const notNeeded: string[] = [];
  for (const c of AGENT_CAPABILITIES) {
    if (c.bit > lastCap) unknownToKernel.push(c.name);
    else if (eff & (1n << BigInt(c.bit))) held.push(c.name);
    else if (c.neededBefore && !older(kernel, c.neededBefore)) notNeeded.push(c.name);
    else missing.push(c);
  }
  return { effective: hex, held, missing, notNeeded, unknownToKernel };
}

const older = (k: [number, number], than: [number, number]): boolean =>
  k[0] < than[0] || (k[0] === than[0] && k[1] < than[1]);

function readKernelVersion(): [number, number] {
  try {
    const m = /^(\d+)\.(\d+)/.exec(readFileSync('/proc/sys/kernel/osrelease', 'utf8'));
    if (m) return [Number(m[1]), Number(m[2])];
  } catch {
    // no /proc: assume a current kernel
  }
  return [6, 0];
}

function readLastCap(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    return 40;
  }
}

/** Thrown before anything loads when a capability is missing. */
export class MissingCapabilitiesError extends Error {
  override name = 'MissingCapabilitiesError';
  constructor(readonly missing: Capability[]) {
    super(
      `missing ${missing.length === 1 ? 'capability' : 'capabilities'}: ` +
        missing.map((c) => `${c.name} (${c.purpose})`).join('; ') +
        `. The collectors need ${AGENT_CAPABILITIES.map((c) => c.name).join(', ')}: run as root, ` +
        'or with that set (deploy/systemd/fleettrace-agent.service CapabilityBoundingSet, ' +
        "the Helm chart's agent securityContext)",
    );
  }
}

/** Throws MissingCapabilitiesError when the effective set lacks one the collectors need. */
export function requireAgentCapabilities(report = agentCapabilities()): CapabilityReport {
  if (report.missing.length) throw new MissingCapabilitiesError(report.missing);
  return report;
}
