#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// What `fleettrace up` costs a host on which nothing happens: the CPU time of
// `up` and every descendant, per thread, from /proc/<pid>/task/<tid>/schedstat
// (the scheduler's run time in ns, not 10 ms ticks), over --seconds, once
// with the default always-on job and once with --no-default-job, each started
// afresh and measured --warmup seconds after it is ready (the job's run past
// its warm-up, the embedded store's merge polling of its new tables backed
// off). Nothing talks to `up` during the window; the job's state is read
// once, after it. Records the run in bench/RESULTS.md ("idle").
//
// usage: node bench/idle/run.mjs [--seconds 60] [--warmup 90]
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fleettraceCommand, machine, processTree, recordSection, startUp } from '../lib.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '90' },
  },
});
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
if (!(seconds > 0 && warmup >= 0)) throw new Error('--seconds must be > 0 and --warmup >= 0');
const say = (m) => process.stderr.write(`idle: ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GOAL = 0.002; // of one CPU

/** Run time (ns) of every thread of `pids`: tid -> { pid, comm, ns }. */
function threads(pids) {
  const out = new Map();
  for (const pid of pids) {
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        out.set(tid, { pid, comm, ns });
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

async function measure(extra) {
  const label = `up${extra.length ? ` ${extra.join(' ')}` : ''}`;
  const up = await startUp(extra);
  const child = up.child;
  try {
    say(`${label} ready; measuring after ${warmup} s, for ${seconds} s`);
    await sleep(warmup * 1000);
    const tree = processTree(child.pid);
    const before = threads(tree);
    const w0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const wallNs = Number(process.hrtime.bigint() - w0);
    const after = threads(processTree(child.pid));
    const byProcess = new Map();
    for (const [tid, t] of after) {
      const ns = t.ns - (before.get(tid)?.ns ?? 0); // a thread born in the window: all of it
      const p = byProcess.get(t.pid) ?? { ns: 0, threads: new Map() };
      p.ns += ns;
      const g = p.threads.get(t.comm) ?? { n: 0, ns: 0 };
      g.n++;
      g.ns += ns;
      p.threads.set(t.comm, g);
      byProcess.set(t.pid, p);
    }
    const share = (ns) => ns / wallNs;
    const rows = [...byProcess.entries()].map(([pid, p]) => {
      return {
        pid,
        cmd: fleettraceCommand(pid),
        share: share(p.ns),
        threads: [...p.threads.entries()]
          .sort((a, b) => b[1].ns - a[1].ns)
          .filter(([, g]) => g.ns > 0)
          .slice(0, 6)
          .map(([n, g]) => `${n}${g.n > 1 ? ` ×${g.n}` : ''} ${pct(share(g.ns))}`)
          .join(', '),
      };
    });
    let status = 'no job';
    if (!extra.includes('--no-default-job')) {
      const jobs = await up.api('/api/v1/jobs');
      const list = jobs.jobs ?? jobs;
      const job = await up.api(`/api/v1/jobs/${list[0].id}`);
      const run = job.runs?.[0];
      status = `run ${run?.state}${run?.reason ? `: ${run.reason}` : ''}; the agent reported ${pct(run?.overhead_share ?? NaN)} of host CPU`;
    }
    const total = rows.reduce((a, r) => a + r.share, 0);
    say(`${label}: ${pct(total)} of one CPU (${status})`);
    return { label, rows, total, status };
  } finally {
    await up.stop();
  }
}

function pct(x) {
  return `${(x * 100).toFixed(3)}%`;
}

const began = Date.now();
const results = [];
for (const extra of [[], ['--no-default-job']]) results.push(await measure(extra));
const text = results
  .map(
    (r) =>
      `\`${r.label}\`: **${pct(r.total)}** of one CPU (goal ≤ ${pct(GOAL)}: ${r.total <= GOAL ? 'met' : 'NOT met'}); ${r.status}\n\n` +
      '| process | % of one CPU | busiest threads |\n|---|---:|---|\n' +
      r.rows
        .sort((a, b) => b.share - a.share)
        .map((x) => `| ${x.cmd || x.pid} | ${pct(x.share)} | ${x.threads || '—'} |`)
        .join('\n'),
  )
  .join('\n\n');
const command = `node bench/idle/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
const report =
  `Command: \`${command}\` (as root, after \`pnpm build\`). Took ${((Date.now() - began) / 60_000).toFixed(1)} min.\n\n` +
  `Machine: ${machine()}. Date: ${new Date().toISOString()}.\n\n` +
  `CPU time of \`fleettrace up\` and every descendant on a host where nothing else happens, per thread from ` +
  `/proc/<pid>/task/<tid>/schedstat (run time in ns), over ${seconds} s, ${warmup} s after \`up\` was ready, ` +
  `with no request to it during the window.\n\n${text}`;
console.log(report);
recordSection('idle', report);
