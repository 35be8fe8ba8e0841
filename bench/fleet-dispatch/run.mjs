// SPDX-License-Identifier: Apache-2.0
// bench/fleet-dispatch: one controller, N simulated agents (each enrolled,
// with its own key and mutual-TLS stream), in a few agent processes. Creates
// jobs that target every agent and measures, per agent, the time from job
// creation to the agent's acknowledgement (its first status for the run, as
// the controller records it), and the controller's resident memory.
// Prints p50/p99/max per round and records the run in bench/RESULTS.md.
//
// usage: node bench/fleet-dispatch/run.mjs [--agents 2000] [--processes 4] [--rounds 3]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { machine, memoryStatus, recordSection, simulatedFleet } from '../lib.mjs';

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

const fleet = await simulatedFleet({ agents, processes });
try {
  const { api } = fleet;
  const ctl = { child: fleet.controller };
  const connectS = fleet.connectMs / 1000;
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
  await fleet.close();
}
