// SPDX-License-Identifier: Apache-2.0
import { renderTable } from '@fleettrace/common';
import {
  bpfObjectPath,
  agentCapabilities,
  collectors,
  missingFeatures,
  probeKernelFeatures,
} from '@fleettrace/collectors';
import { toJson } from '../cli-error';
import { defineCommand } from '../command';
import { listed } from '../registry';

export const featuresCommand = defineCommand({
  ...listed('features'),
  description: `Probes what this kernel supports (attach kinds, map and program types, helpers)
by loading tiny programs, and which collectors can run here.`,
  data: true,
  run: features,
});

async function features(values: { json: boolean }): Promise<number> {
  const report = await probeKernelFeatures(bpfObjectPath('features'));
  const runnable = Object.fromEntries(
    [...collectors().values()].map((c) => [c.name, missingFeatures(report, c.requires)]),
  );
  const caps = agentCapabilities();
  if (values.json) {
    process.stdout.write(
      toJson({
        ...report,
        collectors: runnable,
        capabilities: {
          held: caps.held,
          missing: caps.missing.map((c) => c.name),
          not_needed: caps.notNeeded,
          unknown_to_kernel: caps.unknownToKernel,
        },
      }) + '\n',
    );
    return 0;
  }
  process.stdout.write(`kernel ${report.kernel}, libbpf ${report.libbpf}\n\n`);
  process.stdout.write(
    renderTable(
      ['FEATURE', 'PRESENT', 'REASON'],
      Object.entries(report.features).map(([f, s]) => [
        f,
        s.present ? 'yes' : 'no',
        s.reason ?? '',
      ]),
    ) + '\n\n',
  );
  const absentHelpers = Object.entries(report.helpers)
    .filter(([, ok]) => !ok)
    .map(([h]) => h);
  process.stdout.write(
    `helpers absent: ${absentHelpers.length ? absentHelpers.join(', ') : 'none'}\n\n`,
  );
  process.stdout.write(
    `capabilities: ${caps.missing.length ? `MISSING ${caps.missing.map((c) => `${c.name} (${c.purpose})`).join(', ')}` : `all the collectors need (${caps.held.join(', ')})`}` +
      (caps.notNeeded.length ? `; not needed on this kernel: ${caps.notNeeded.join(', ')}` : '') +
      '\n\n',
  );
  process.stdout.write(
    renderTable(
      ['COLLECTOR', 'RUNS HERE'],
      Object.entries(runnable).map(([c, missing]) => [
        c,
        missing.length ? `no: needs ${missing.join(', ')}` : 'yes',
      ]),
    ) + '\n',
  );
  return 0;
}
