#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The agent under process churn, as on a shared host running CGI, cron and PHP
// workers: `fleettrace up` with its default always-on job, then --processes
// short processes at the fastest rate the machine allows (--parallel alive at
// once, each becoming --uid, making exactly --calls getppid calls and, unless
// --exec '', executing /bin/true), while --alive more processes sleep for the
// whole run. The agent's RSS is sampled every second from start to the end of
// the drain; the stored rows are then compared with what the workload counted
// itself: per-uid getppid calls in fleettrace.syscalls (per-process rows plus
// overflow rows, pid 0) and exec rows in fleettrace.proc. Records the run in
// bench/RESULTS.md ("churn").
//
// usage: node bench/churn/run.mjs [--processes 100000] [--alive 1000] [--calls 10]
//          [--parallel 8] [--uid 64123] [--exec /bin/true] [--warmup 30] [--drain 120]
//          [--cap-mib 256] [--budget PCT (up's default job budget; default up's 2%)]
//          [--contention N (N busy loops of uid 64124 from the churn to the end: a host
//           whose CPUs are taken, the agent starved of them)]
/* global setInterval, clearInterval */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import {
  fleettraceCommand,
  machine,
  memoryStatus,
  processTree,
  recordSection,
  startUp,
} from '../lib.mjs';

const { workload } = await import('@fleettrace/testing');
const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '100000' },
    alive: { type: 'string', default: '1000' },
    calls: { type: 'string', default: '10' },
    parallel: { type: 'string', default: '8' },
    uid: { type: 'string', default: '64123' },
    exec: { type: 'string', default: '/bin/true' },
    warmup: { type: 'string', default: '30' },
    drain: { type: 'string', default: '120' },
    'cap-mib': { type: 'string', default: '256' },
    budget: { type: 'string' },
    contention: { type: 'string', default: '0' },
  },
});
const num = (name, min) => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < min)
    throw new Error(`--${name}: expected an integer >= ${min}, got ${values[name]}`);
  return v;
};
const processes = num('processes', 1);
const alive = num('alive', 0);
const calls = num('calls', 1);
const parallel = num('parallel', 1);
const uid = num('uid', 1);
const warmup = num('warmup', 0);
const drainSeconds = num('drain', 1);
const capMib = num('cap-mib', 1);
const contention = num('contention', 0);
const exec = values.exec;
const say = (m) => process.stderr.write(`churn: ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MIB = 1024 * 1024;

/** The agent `up` started: the descendant whose command line is `node [flags] main.js agent …`. */
function agentPid(upPid) {
  return processTree(upPid).find((pid) => fleettraceCommand(pid) === 'agent');
}

const began = Date.now();
const up = await startUp(values.budget ? ['--budget', values.budget] : []);
const samples = []; // { t, phase, pid, rss, anon, file }
let phase = 'warm-up';
let sampler;
let watcher;
let metricsSampler;
const memory = []; // { t, heapUsed, heapTotal, external, malloc, caches: { name: bytes } }
let scraping = false;
const hogs = [];
try {
  const t0 = Date.now();
  let pid;
  while (!(pid = agentPid(up.child.pid))) {
    if (Date.now() - t0 > 30_000) throw new Error('no agent process under up');
    await sleep(200);
  }
  const pids = new Set([pid]);
  sampler = setInterval(() => {
    const now = agentPid(up.child.pid);
    if (now === undefined) return;
    pids.add(now);
    const m = memoryStatus(now);
    if (m) samples.push({ t: (Date.now() - t0) / 1000, phase, pid: now, ...m });
  }, 1000);
  // The agent's own account of its memory every 3 s: what the RSS peak is made of.
  metricsSampler = setInterval(async () => {
    if (scraping) return; // a starved agent answers late: one scrape at a time
    scraping = true;
    try {
      const m = await up.agentMetrics();
      const caches = {};
      for (const [k, v] of Object.entries(m)) {
        const name = /^fleettrace_agent_cache_bytes\{cache="([^"]+)"\}$/.exec(k)?.[1];
        if (name && v > 0) caches[name] = v;
      }
      memory.push({
        t: (Date.now() - t0) / 1000,
        heapUsed: m.fleettrace_agent_heap_used_bytes,
        heapTotal: m.fleettrace_agent_heap_total_bytes,
        external: m.fleettrace_agent_external_bytes,
        malloc: m.fleettrace_agent_malloc_in_use_bytes,
        caches,
      });
    } catch {
      // the next tick tries again
    } finally {
      scraping = false;
    }
  }, 3000);
  // What the job's run said when (state and reason changes), every 2 s: how it met the storm.
  const timeline = [];
  let jobId;
  watcher = setInterval(async () => {
    try {
      if (!jobId) {
        const jobs = await up.api('/api/v1/jobs');
        jobId = (jobs.jobs ?? jobs)[0]?.id;
        if (!jobId) return;
      }
      const r = (await up.api(`/api/v1/jobs/${jobId}`)).runs?.[0];
      const said = `${r?.state}${r?.reason ? `: ${r.reason}` : ''}`;
      if (said !== timeline.at(-1)?.said)
        timeline.push({ t: (Date.now() - t0) / 1000, phase, said });
    } catch {
      // the next tick tries again
    }
  }, 2000);
  say(`agent ${pid}; ${warmup} s of idle first`);
  await sleep(warmup * 1000);
  const idle = samples.filter((s) => s.phase === 'warm-up').at(-1);

  phase = 'churn';
  for (let i = 0; i < contention; i++)
    hogs.push(
      spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore', uid: 64124, gid: 64124 }),
    );
  const bin = workload('churn');
  const args = [String(processes), String(calls), String(uid), String(parallel), String(alive)];
  if (exec) args.push(exec);
  say(
    `${processes} processes as uid ${uid}, ${calls} getppid each${exec ? `, then exec ${exec}` : ''}, ${parallel} at once, ${alive} alive`,
  );
  const out = await new Promise((resolve, reject) => {
    const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    c.stdout.on('data', (d) => (text += d));
    c.on('error', reject);
    c.on('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`churn exited ${code}: ${text}`)),
    );
  });
  const m = /done (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`churn output: ${out}`);
  const [made, getppid, ms] = [Number(m[1]), Number(m[2]), Number(m[3])];
  say(
    `${made} processes in ${(ms / 1000).toFixed(1)} s (${Math.round(made / (ms / 1000))}/s), ${getppid} getppid`,
  );

  // Drain: until the stored count stops changing (or reaches the workload's) and the job's figures are in.
  phase = 'drain';
  const sqlCalls =
    `SELECT sum(count) AS calls, sumIf(count, pid = 0) AS overflow, count() AS rows, ` +
    `round(sum(count * weight)) AS weighted, countIf(weight != 1) AS weighted_rows ` +
    `FROM fleettrace.syscalls FINAL WHERE uid = ${uid} AND syscall = 'getppid'`;
  const sqlExec = `SELECT count() AS n FROM fleettrace.proc FINAL WHERE uid = ${uid} AND event = 'exec'`;
  let stored = { calls: 0, overflow: 0, rows: 0, weighted: 0, weightedRows: 0 };
  let execs = 0;
  const d0 = Date.now();
  let stableSince = Date.now();
  while (Date.now() - d0 < drainSeconds * 1000) {
    await sleep(5000);
    const [r] = await up.query(sqlCalls);
    const [e] = await up.query(sqlExec);
    const next = {
      calls: Number(r.calls),
      overflow: Number(r.overflow),
      rows: Number(r.rows),
      weighted: Number(r.weighted),
      weightedRows: Number(r.weighted_rows),
    };
    if (next.calls !== stored.calls || Number(e.n) !== execs) stableSince = Date.now();
    stored = next;
    execs = Number(e.n);
    if (stored.weighted >= getppid && (!exec || execs >= made) && Date.now() - d0 > 15_000) break;
    if (Date.now() - stableSince > 30_000) break;
  }
  phase = 'after';
  await sleep(5000);
  clearInterval(sampler);
  clearInterval(watcher);
  clearInterval(metricsSampler);

  const jobs = await up.api('/api/v1/jobs');
  const list = jobs.jobs ?? jobs;
  const job = await up.api(`/api/v1/jobs/${list[0].id}`);
  const run = job.runs?.[0] ?? {};
  const metrics = await up.agentMetrics().catch((err) => ({ error: err.message }));
  const caches = Object.entries(metrics)
    .filter(([k]) => k.startsWith('fleettrace_agent_cache_bytes{'))
    .map(([k, v]) => {
      const name = /cache="([^"]+)"/.exec(k)?.[1];
      const limit = metrics[`fleettrace_agent_cache_limit_bytes{cache="${name}"}`];
      const ev = metrics[`fleettrace_agent_cache_evictions_total{cache="${name}"}`];
      const mib = (x) => (x / MIB).toFixed(1);
      return `${name} ${mib(v)} of ${Number.isFinite(limit) ? mib(limit) : '∞'} MiB, ${ev} evicted`;
    });
  const max = samples.reduce((a, s) => (s.rss > a.rss ? s : a), samples[0]);
  const byPhase = (p) => {
    const xs = samples.filter((s) => s.phase === p);
    return xs.length ? `${(Math.max(...xs.map((s) => s.rss)) / MIB).toFixed(0)}` : '—';
  };
  const exact = stored.calls === getppid;
  // The agent's figures nearest the RSS peak (scraped every 3 s).
  const near = memory.reduce(
    (a, m) => (a === undefined || Math.abs(m.t - max.t) < Math.abs(a.t - max.t) ? m : a),
    undefined,
  );
  const mibOf = (x) => (Number.isFinite(x) ? (x / MIB).toFixed(0) : '—');
  const atPeak = near
    ? `at ${near.t.toFixed(0)} s: V8 heap used ${mibOf(near.heapUsed)} of ${mibOf(near.heapTotal)} reserved, ` +
      `buffers outside it ${mibOf(near.external)}, C heap in use ${mibOf(near.malloc)}; caches over 1 MiB: ` +
      (Object.entries(near.caches)
        .filter(([, v]) => v >= MIB)
        .map(([k, v]) => `${k} ${mibOf(v)}`)
        .join(', ') || 'none')
    : 'no scrape answered';
  const lines = [
    `| | value |`,
    `|---|---:|`,
    `| processes (at once / alive) | ${made} (${parallel} / ${alive}) in ${(ms / 1000).toFixed(1)} s = ${Math.round(made / (ms / 1000))}/s |`,
    `| getppid the workload made | ${getppid} |`,
    `| getppid stored for uid ${uid}: counted | ${stored.calls} (${exact ? 'exact' : `${getppid - stored.calls} not counted`}; ${stored.overflow} in overflow rows, ${stored.rows} rows) |`,
    `| getppid stored for uid ${uid}: sum(count × weight) | ${stored.weighted} (${((stored.weighted / getppid - 1) * 100).toFixed(1)}% off; ${stored.weightedRows} rows weighted for duty cycling) |`,
    ...(exec ? [`| exec rows stored | ${execs} of ${made} |`] : []),
    `| agent RSS idle (MiB) | ${idle ? (idle.rss / MIB).toFixed(0) : '—'} (anon ${idle ? (idle.anon / MIB).toFixed(0) : '—'}) |`,
    `| agent RSS max (MiB) | **${(max.rss / MIB).toFixed(0)}** at ${max.t.toFixed(0)} s (${max.phase}; anon ${(max.anon / MIB).toFixed(0)}, file ${(max.file / MIB).toFixed(0)}); cap ${capMib}: ${max.rss <= capMib * MIB ? 'kept' : 'NOT kept'} |`,
    `| agent memory nearest the peak (MiB, its /metrics) | ${atPeak} |`,
    `| agent RSS max by phase (MiB) | warm-up ${byPhase('warm-up')}, churn ${byPhase('churn')}, drain ${byPhase('drain')}, after ${byPhase('after')} |`,
    `| agent processes seen | ${pids.size}${pids.size > 1 ? ' (it restarted)' : ''} |`,
    `| agent /metrics at the end | caches: ${caches.join('; ') || JSON.stringify(metrics).slice(0, 200)}; memory pressure events ${metrics.fleettrace_agent_memory_pressure_events}, over the cap ${metrics.fleettrace_agent_memory_over_limit_events}; V8 heap used ${((metrics.fleettrace_agent_heap_used_bytes ?? NaN) / MIB).toFixed(0)} MiB, C heap in use ${((metrics.fleettrace_agent_malloc_in_use_bytes ?? NaN) / MIB).toFixed(0)} MiB |`,
    `| job run | ${run.state}${run.reason ? `: ${run.reason}` : ''}; events sent ${run.events_sent}, lost ${run.events_lost} |`,
  ];
  const command = `node bench/churn/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
  const series = samples
    .filter((_, i) => i % 10 === 0)
    .map((s) => `${s.t.toFixed(0)}s ${(s.rss / MIB).toFixed(0)}`)
    .join(', ');
  const report =
    `Command: \`${command}\` (as root, after \`pnpm build\`). Took ${((Date.now() - began) / 60_000).toFixed(1)} min.\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}.\n\n` +
    `\`fleettrace up\` with its default job${values.budget ? ` (budget ${values.budget})` : ''}; after ${warmup} s idle, ${processes} short processes of uid ${uid} ` +
    `(${calls} getppid each${exec ? `, then exec ${exec}` : ''}) as fast as they come, ${alive} more alive for the whole run; ` +
    (contention
      ? `${contention} busy loops of uid 64124 (normal priority) from the churn to the end, taking the CPUs from everything else; `
      : '') +
    `the agent's RSS read from /proc/<pid>/status every second until the rows were stored.\n\n` +
    `${lines.join('\n')}\n\nRSS every 10 s (MiB): ${series}\n\n` +
    `The job's run, read every 2 s (changes only):\n\n` +
    timeline.map((e) => `- ${e.t.toFixed(0)} s (${e.phase}): ${e.said}`).join('\n') +
    '\n';
  console.log(report);
  recordSection(contention ? 'churn under CPU contention' : 'churn', report);
  if (!exact) process.exitCode = 1;
} finally {
  for (const h of hogs) h.kill('SIGKILL');
  clearInterval(sampler);
  clearInterval(watcher);
  clearInterval(metricsSampler);
  await up.stop();
}
