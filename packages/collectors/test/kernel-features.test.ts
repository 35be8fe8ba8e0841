// SPDX-License-Identifier: Apache-2.0
/**
 * The feature probe against ground truth read independently from sysfs, so an
 * absent feature is reported absent and a present one present.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bpfObjectPath } from '../src/runtime/host';
import {
  KERNEL_FEATURES,
  missingFeatures,
  probeKernelFeatures,
} from '../src/runtime/kernel-features';

const PMU = '/sys/bus/event_source/devices';

function readable(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

test('feature probe matches what sysfs says this kernel has', async () => {
  const report = await probeKernelFeatures(bpfObjectPath('features'));
  assert.deepEqual(Object.keys(report.features).sort(), [...KERNEL_FEATURES].sort());
  for (const [name, state] of Object.entries(report.features)) {
    if (!state.present) assert.ok(state.reason, `${name} is absent with a reason`);
  }
  const hasKprobes = existsSync(`${PMU}/kprobe`) || existsSync('/sys/kernel/tracing/kprobe_events');
  assert.equal(report.features.kprobe.present, hasKprobes, 'kprobe');
  const hasHardwarePmu = existsSync(`${PMU}/cpu`) || existsSync(`${PMU}/cpu_core`);
  assert.equal(report.features.perf_event_hardware.present, hasHardwarePmu, 'hardware PMU');
  assert.equal(
    report.features.perf_event_software.present,
    existsSync(`${PMU}/software`),
    'software perf events',
  );
  assert.equal(report.features.uprobe.present, existsSync(`${PMU}/uprobe`), 'uprobe');
  assert.equal(report.features.btf.present, existsSync('/sys/kernel/btf/vmlinux'), 'btf');
  // fentry needs ftrace's direct calls: without any traceable function it cannot attach.
  if (readable('/sys/kernel/tracing/available_filter_functions').trim() === '') {
    assert.equal(report.features.fentry.present, false, 'fentry');
  }
  // BTF tracepoints and raw tracepoints need only BTF and the BPF core.
  assert.equal(report.features.tp_btf.present, report.features.btf.present, 'tp_btf');
  assert.equal(report.features.raw_tracepoint.present, true);
  assert.equal(
    report.features.tracepoint.present,
    true,
    'tracepoints (tracefs is mounted if missing)',
  );
  assert.equal(report.programTypes.kprobe !== undefined, true, 'program types listed');
  assert.deepEqual(missingFeatures(report, ['kprobe']), hasKprobes ? [] : ['kprobe']);
});
