// SPDX-License-Identifier: Apache-2.0
// bench/fleet-dispatch: one controller, N simulated agents (each enrolled,
// with its own key and mutual-TLS stream), in a few agent processes. Creates
// jobs that target every agent and measures, per agent, the time from job
// creation to the agent's acknowledgement (its first status for the run, as
// the controller records it), and the controller's resident memory.
// Prints p50/p99/max per round and records the run in bench/RESULTS.md.
//
// usage: node bench/fleet-dispatch/run.mjs [--agents 2000] [--processes 4] [--rounds 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, memoryStatus, recordSection } from '../lib.mjs';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '2000' },
    processes: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
  },
});
const agents = Number(values.agents);
const processes = Number(values.processes);
const rounds = Number(values.rounds);
const CLI = join(import.meta.dirname, '../../bin/fleettrace');
const env = { ...process.env, FLEETTRACE_LOG_LEVEL: 'warn' };
const children = [];

function start(args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (ready.test(out)) resolve({ child, out });
    });
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    child.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${err}`)));
  });
}

const MIB = 1024 * 1024;

function rssMiB(pid) {
  const m = memoryStatus(pid);
  if (!m) throw new Error(`process ${pid} is gone`);
  return { rss: m.rss / MIB, peak: m.peak / MIB, anon: m.anon / MIB, file: m.file / MIB };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

const data = mkdtempSync(join(tmpdir(), 'fleettrace-bench-controller-'));
const state = mkdtempSync(join(tmpdir(), 'fleettrace-bench-agents-'));
try {
  const ctl = await start(
    [
      'controller',
      '--data',
      data,
      '--listen',
      '127.0.0.1:0',
      '--enroll-listen',
      '127.0.0.1:0',
      '--control-listen',
      '127.0.0.1:0',
    ],
    /admin API token[^\n]*\n\s+ftapi\S+\n/,
  );
  const server = /api\s+(http\S+)/.exec(ctl.out)[1];
  const enroll = /enroll\s+(\S+)/.exec(ctl.out)[1];
  const token = /\n\s+(ftapi\S+)\n/.exec(ctl.out)[1];
  const api = async (method, path, body) => {
    const r = await globalThis.fetch(server + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await r.json();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  const boot = (
    await api('POST', '/api/v1/tokens', { kind: 'bootstrap', max_uses: agents, name: 'bench' })
  ).token;

  const t0 = Date.now();
  const per = Math.ceil(agents / processes);
  await Promise.all(
    Array.from({ length: processes }, (_, i) => {
      const n = Math.min(per, agents - i * per);
      return start(
        [
          'agent',
          '--controller',
          enroll,
          '--token',
          boot,
          '--state',
          join(state, `p${i}`),
          '--simulate',
          String(n),
          '--hostname',
          `bench-p${i}`,
        ],
        /simulated agents/,
      );
    }),
  );
  for (;;) {
    const { agents: list } = await api('GET', '/api/v1/agents?state=connected');
    if (list.length >= agents) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const connectS = (Date.now() - t0) / 1000;
  const idle = rssMiB(ctl.child.pid);
  console.log(
    `${agents} agents enrolled and connected in ${connectS.toFixed(1)}s; controller RSS ${idle.rss.toFixed(0)} MiB`,
  );

  const loadBefore = loadavg()[0];
  const results = [];
  for (let round = 1; round <= rounds; round++) {
    const created = Date.now();
    const job = await api('POST', '/api/v1/jobs', {
      targets: { hosts: ['bench-*'] },
      collectors: [{ name: 'syscalls' }],
      duration: '60s',
      interval: '5s',
    });
    const createMs = Date.now() - created;
    let runs;
    for (;;) {
      runs = (await api('GET', `/api/v1/jobs/${job.id}`)).runs;
      if (runs.length === agents && runs.every((r) => r.ack_latency_ms !== null)) break;
      if (Date.now() - created > 60_000)
        throw new Error(`round ${round}: not all agents acknowledged within 60 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const lat = runs.map((r) => r.ack_latency_ms);
    const rss = rssMiB(ctl.child.pid);
    const r = {
      round,
      p50: quantile(lat, 0.5),
      p99: quantile(lat, 0.99),
      max: Math.max(...lat),
      createMs,
      rss: rss.rss,
    };
    results.push(r);
    console.log(
      `round ${round}: ack latency p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms (POST returned after ${createMs} ms); controller RSS ${rss.rss.toFixed(0)} MiB`,
    );
    await api('POST', `/api/v1/jobs/${job.id}/cancel`, { reason: 'bench round over' });
    await new Promise((res) => setTimeout(res, 2_000));
  }
  const peak = rssMiB(ctl.child.pid).peak;
  const loadAfter = loadavg()[0];
  const worstP99 = Math.max(...results.map((r) => r.p99));
  console.log(
    `controller peak RSS ${peak.toFixed(0)} MiB; worst p99 ${worstP99} ms (goals: p99 <= 2000 ms, RSS <= 1024 MiB)`,
  );

  recordSection(
    'fleet-dispatch',
    `Command: \`node bench/fleet-dispatch/run.mjs --agents ${agents} --processes ${processes} --rounds ${rounds}\` (after \`pnpm build\`)

Machine: ${machine()}. Date: ${new Date().toISOString()}.

One controller process (\`fleettrace controller\`, SQLite in a temporary directory) and ${agents} simulated agents in ${processes} processes (\`fleettrace agent --simulate\`), each agent enrolled with its own key and on its own mutual-TLS stream. Each round creates a job targeting every agent; an agent's ack latency is the time from the job's creation to the controller receiving that agent's first status for its run. ${agents} agents enrolled and connected in ${connectS.toFixed(1)}s. The machine is shared: 1-minute load average ${loadBefore.toFixed(2)} before the rounds, ${loadAfter.toFixed(2)} after (everything here — controller, agents, and any other work — runs on the same CPUs).

| round | ack p50 | ack p99 | ack max | POST /jobs returned | controller RSS |
|---|---:|---:|---:|---:|---:|
${results.map((r) => `| ${r.round} | ${r.p50} ms | ${r.p99} ms | ${r.max} ms | ${r.createMs} ms | ${r.rss.toFixed(0)} MiB |`).join('\n')}

Controller RSS with ${agents} agents connected and idle: ${idle.rss.toFixed(0)} MiB (${idle.anon.toFixed(0)} MiB anonymous, ${idle.file.toFixed(0)} MiB file-backed: code and shared libraries the \`fleettrace\` process maps); peak over the run: **${peak.toFixed(0)} MiB** (goal ≤ 1024 MiB). Worst p99: **${worstP99} ms** (goal ≤ 2000 ms).`,
  );
} finally {
  for (const c of children.reverse()) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          r();
        }, 15_000);
        c.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  rmSync(data, { recursive: true, force: true });
  rmSync(state, { recursive: true, force: true });
}
