// SPDX-License-Identifier: Apache-2.0
/**
 * What an agent tells the controller about its host in Hello: name, labels,
 * kernel, the kernel features probed at start (and why absent ones are),
 * the collectors that can run here, CPUs and agent version.
 */
import { cpus, release } from 'node:os';
import type { HostFacts } from '@fleettrace/proto';
import type { KernelFeatureReport } from '@fleettrace/collectors';

export const AGENT_VERSION = '0.1.0';

export interface CollectorRequirement {
  name: string;
  requires: readonly string[];
}

export function hostFacts(
  hostname: string,
  labels: Record<string, string>,
  report: KernelFeatureReport,
  collectorList: CollectorRequirement[],
): HostFacts {
  const features: string[] = [];
  const missing: Record<string, string> = {};
  for (const [name, state] of Object.entries(report.features)) {
    if (state.present) features.push(name);
    else missing[name] = state.reason ?? 'absent';
  }
  const present = new Set(features);
  return {
    hostname,
    labels,
    kernel: report.kernel,
    features,
    missingFeatures: missing,
    collectors: collectorList
      .filter((c) => c.requires.every((f) => present.has(f)))
      .map((c) => c.name),
    cpus: cpus().length,
    agentVersion: AGENT_VERSION,
  };
}

/** Facts of a simulated host: this machine's kernel and CPUs, and every collector (nothing is loaded). */
export function simulatedHostFacts(
  hostname: string,
  labels: Record<string, string>,
  collectorNames: string[],
): HostFacts {
  return {
    hostname,
    labels,
    kernel: `${release()} (simulated)`,
    features: [],
    missingFeatures: {},
    collectors: collectorNames,
    cpus: cpus().length,
    agentVersion: `${AGENT_VERSION}-simulated`,
  };
}
