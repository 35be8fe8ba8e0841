// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { renderTable } from '@fleettrace/common';
import {
  bpfObjectPath,
  agentCapabilities,
  collectors,
  missingFeatures,
  probeKernelFeatures,
} from '@fleettrace/collectors';
import { toJson } from '../cli-error';

export const FEATURES_HELP = `usage: fleettrace features [--json]

Probes what this kernel supports (attach kinds, map and program types, helpers)
by loading tiny programs, and which collectors can run here.`;

export async function featuresCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(FEATURES_HELP + '\n');
    return 0;
  }
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
