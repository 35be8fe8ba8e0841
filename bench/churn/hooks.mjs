#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// What each of the default job's BPF programs costs per process under churn:
// `fleettrace up` with its default job (at --budget, default 100% so that the
// job runs at full settings and is neither degraded nor duty-cycled), then
// the churn workload (--processes, each 10 getppid then exec /bin/true) with
// the kernel's BPF run-time statistics on (kernel.bpf_stats_enabled, restored
// after). Prints runs, total and ns per run of every ft_ program, and the
// total per process. Then the same with bpftrace counting syscalls per (uid,
// comm, syscall) with a latency histogram (what a user would run instead of
// the syscalls collector), side by side. Records the run in bench/RESULTS.md
// ("churn: BPF cost per process").
//
// usage: node bench/churn/hooks.mjs [--processes 20000] [--budget 100%] [--warmup 30]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { machine, recordSection, run, startTracer, startUp, stopTracer } from '../lib.mjs';

const { workload } = await import('@fleettrace/testing');
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
const programs = async (ours = true) =>
  new Map(
    JSON.parse(await run('bpftool', ['-j', 'prog', 'show']))
      .filter((p) =>
        ours ? p.name?.startsWith('ft_') : p.name === 'sys_enter' || p.name === 'sys_exit',
      )
      .map((p) => [
        `${p.name}#${p.id}`,
        { name: p.name, ns: p.run_time_ns ?? 0, n: p.run_cnt ?? 0 },
      ]),
  );

/** BPF ns of our ft_ programs (ours) or bpftrace's sys_enter/sys_exit while `work` runs, sorted by ns. */
async function costOf(ours, work) {
  await run('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
  const before = await programs(ours);
  const t0 = Date.now();
  await work();
  const seconds = (Date.now() - t0) / 1000;
  const after = await programs(ours);
  await run('sysctl', ['-qw', 'kernel.bpf_stats_enabled=0']);
  const rows = [];
  for (const [key, p] of after) {
    const was = before.get(key) ?? { ns: 0, n: 0 };
    if (p.n - was.n > 0) rows.push({ name: p.name, n: p.n - was.n, ns: p.ns - was.ns });
  }
  return { rows: rows.sort((a, b) => b.ns - a.ns), seconds };
}

const churn = () =>
  run(workload('churn'), [String(processes), '10', '64123', '8', '0', '/bin/true']);
const BPFTRACE =
  'tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; } ' +
  'tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @c[uid, comm, args->id] = count(); @h = hist(nsecs - @s[tid]); delete(@s[tid]); }';

const began = Date.now();
const statsWas = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
const up = await startUp(['--budget', values.budget]);
let report;
try {
  await sleep(warmup * 1000);
  const { rows, seconds } = await costOf(true, churn);
  const jobs = await up.api('/api/v1/jobs');
  const job = await up.api(`/api/v1/jobs/${(jobs.jobs ?? jobs)[0].id}`);
  const state = job.runs?.[0];
  await up.stop();
  const total = rows.reduce((a, r) => a + r.ns, 0);
  const bt = await startTracer('bpftrace', ['-e', BPFTRACE], /Attaching \d+ probe/);
  await sleep(2000);
  const theirs = await costOf(false, churn).finally(() => stopTracer(bt));
  const btTotal = theirs.rows.reduce((a, r) => a + r.ns, 0);
  const ourSyscalls = rows.filter((r) => r.name.startsWith('ft_sc_')).reduce((a, r) => a + r.ns, 0);
  const table = [
    '| program | runs | ms | ns per run | µs per process |',
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.n} | ${(r.ns / 1e6).toFixed(1)} | ${(r.ns / r.n).toFixed(0)} | ${(r.ns / 1e3 / processes).toFixed(2)} |`,
    ),
    `| **all** | | ${(total / 1e6).toFixed(1)} | | **${(total / 1e3 / processes).toFixed(1)}** |`,
  ].join('\n');
  const btTable = [
    '| bpftrace program | runs | ms | ns per run | µs per process |',
    '|---|---:|---:|---:|---:|',
    ...theirs.rows.map(
      (r) =>
        `| ${r.name} | ${r.n} | ${(r.ns / 1e6).toFixed(1)} | ${(r.ns / r.n).toFixed(0)} | ${(r.ns / 1e3 / processes).toFixed(2)} |`,
    ),
    `| **all** | | ${(btTotal / 1e6).toFixed(1)} | | **${(btTotal / 1e3 / processes).toFixed(1)}** |`,
  ].join('\n');
  const command = `node bench/churn/hooks.mjs ${process.argv.slice(2).join(' ')}`.trim();
  report =
    `Command: \`${command}\` (as root, after \`pnpm build\`). Took ${((Date.now() - began) / 60_000).toFixed(1)} min.\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}.\n\n` +
    `${processes} processes (10 getppid each, then exec /bin/true, 8 at once) in ${seconds.toFixed(1)} s ` +
    `(${Math.round(processes / seconds)}/s) under \`up\`'s default job at budget ${values.budget} ` +
    `(run ${state?.state}${state?.reason ? `: ${state.reason.slice(0, 160)}` : ''}); BPF run time from the kernel's statistics:\n\n${table}\n\n` +
    `The same churn (${theirs.seconds.toFixed(1)} s) under bpftrace counting per (uid, comm, syscall) with a latency histogram:\n\n${btTable}\n\n` +
    `syscalls collector / bpftrace, BPF time per process: **${(ourSyscalls / btTotal).toFixed(2)}×** ` +
    `(the collector also keeps per-process rows, errors per errno, the cgroup and a histogram per row).\n`;
  console.log(report);
} finally {
  await run('sysctl', ['-qw', `kernel.bpf_stats_enabled=${statsWas}`]).catch(() => undefined);
  await up.stop().catch(() => undefined);
}
recordSection('churn: BPF cost per process', report);
