#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// What each of the default job's BPF programs costs per process under churn:
// `fleettrace up` with its default job (at --budget, default 100% so that the
// job runs at full settings and is neither degraded nor duty-cycled), then
// the churn workload (--processes, each 10 getppid then exec /bin/true) with
// the kernel's BPF run-time statistics on (kernel.bpf_stats_enabled, restored
// after). Prints runs, total and ns per run of every ft_ program, and the
// total per process. Records the run in bench/RESULTS.md ("churn: BPF cost
// per process").
//
// usage: node bench/churn/hooks.mjs [--processes 20000] [--budget 100%] [--warmup 30]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { machine, recordSection, run, startUp } from '../lib.mjs';

const { workload } = await import('../../packages/testing/dist/src/index.js');
const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '20000' },
    budget: { type: 'string', default: '100%' },
    warmup: { type: 'string', default: '30' },
  },
});
const processes = Number(values.processes);
const warmup = Number(values.warmup);
if (!(Number.isInteger(processes) && processes > 0))
  throw new Error('--processes: a positive integer');
if (!(warmup >= 0)) throw new Error('--warmup: seconds >= 0');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const programs = async () =>
  new Map(
    JSON.parse(await run('bpftool', ['-j', 'prog', 'show']))
      .filter((p) => p.name?.startsWith('ft_'))
      .map((p) => [
        `${p.name}#${p.id}`,
        { name: p.name, ns: p.run_time_ns ?? 0, n: p.run_cnt ?? 0 },
      ]),
  );

const began = Date.now();
const statsWas = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
const up = await startUp(['--budget', values.budget]);
let report;
try {
  await sleep(warmup * 1000);
  await run('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
  const before = await programs();
  const t0 = Date.now();
  await run(workload('churn'), [String(processes), '10', '64123', '8', '0', '/bin/true']);
  const seconds = (Date.now() - t0) / 1000;
  const after = await programs();
  const jobs = await up.api('/api/v1/jobs');
  const job = await up.api(`/api/v1/jobs/${(jobs.jobs ?? jobs)[0].id}`);
  const state = job.runs?.[0];
  const rows = [];
  let total = 0;
  for (const [key, p] of after) {
    const was = before.get(key) ?? { ns: 0, n: 0 };
    const ns = p.ns - was.ns;
    const n = p.n - was.n;
    if (n <= 0) continue;
    total += ns;
    rows.push({ name: p.name, n, ns });
  }
  rows.sort((a, b) => b.ns - a.ns);
  const table = [
    '| program | runs | ms | ns per run | µs per process |',
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.n} | ${(r.ns / 1e6).toFixed(1)} | ${(r.ns / r.n).toFixed(0)} | ${(r.ns / 1e3 / processes).toFixed(2)} |`,
    ),
    `| **all** | | ${(total / 1e6).toFixed(1)} | | **${(total / 1e3 / processes).toFixed(1)}** |`,
  ].join('\n');
  const command = `node bench/churn/hooks.mjs ${process.argv.slice(2).join(' ')}`.trim();
  report =
    `Command: \`${command}\` (as root, after \`pnpm build\`). Took ${((Date.now() - began) / 60_000).toFixed(1)} min.\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}.\n\n` +
    `${processes} processes (10 getppid each, then exec /bin/true, 8 at once) in ${seconds.toFixed(1)} s ` +
    `(${Math.round(processes / seconds)}/s) under \`up\`'s default job at budget ${values.budget} ` +
    `(run ${state?.state}${state?.reason ? `: ${state.reason.slice(0, 160)}` : ''}); BPF run time from the kernel's statistics:\n\n${table}\n`;
  console.log(report);
} finally {
  await run('sysctl', ['-qw', `kernel.bpf_stats_enabled=${statsWas}`]).catch(() => undefined);
  await up.stop();
}
recordSection('churn: BPF cost per process', report);
