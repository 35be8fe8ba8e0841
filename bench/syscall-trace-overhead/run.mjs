// SPDX-License-Identifier: Apache-2.0
// bench/syscall-trace-overhead: what per-call syscall tracing adds to a getppid()
// tight loop, fleettrace's `syscall_trace` against strace and perf trace.
//
// Interleaved rounds (order shuffled each round) of: nothing attached;
// `syscall_trace` (comm filter on the loop, rate limit raised so every call is
// traced) with the default ring, drained every 200 ms; `syscall_trace` with a
// ring that holds a whole round, so no event is lost and the full per-call cost
// is paid; `strace -f -o /dev/null`; `perf trace -o /dev/null`. The loop times
// itself (attach and teardown are outside the measurement) and prints ns per
// call. Prints the median added ns per call of each, strace's and perf trace's
// added cost as a multiple of ours, the events fleettrace delivered and lost,
// and records the run in bench/RESULTS.md.
//
// The machine has 2 CPUs and decoding events in JavaScript keeps one busy: the
// loop runs on CPU 1 and this process, its ring reader thread and the other
// tracers on CPU 0, so the loop measures the cost paid in the traced thread,
// not a fight for a CPU with the agent (whose CPU time is reported apart).
//
// usage: node bench/syscall-trace-overhead/run.mjs [--rounds 5] [--calls 1000000] [--ring-kb 4096]
import { createRequire } from 'node:module';
import { setInterval, clearInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  hostActivity,
  machine,
  median,
  nextPowerOfTwo,
  pinProcess,
  recordSection,
  run,
  shuffle,
} from '../lib.mjs';

const require = createRequire(import.meta.url);
const { workload, renamedCopy } = require('@fleettrace/testing');
const { collector: collectorNamed, localHost } = require('@fleettrace/collectors');
const collector = collectorNamed('syscall_trace');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '1000000' },
    'ring-kb': { type: 'string', default: '4096' },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const ringKb = Number(values['ring-kb']);
// ptrace stops the loop twice per call (~100 us): fewer calls keep a round short.
const straceCalls = Math.max(10_000, Math.round(calls / 100));
const perfCalls = Math.max(50_000, Math.round(calls / 10));
// JavaScript decodes some 50,000 events/s: a round whose every event is kept
// takes ~2 s of decoding per 100,000 calls.
const losslessCalls = Math.max(50_000, Math.round(calls / 10));
// The ring of the lossless mode holds every event of its round: 376-byte
// records plus the 8-byte ring header, and the loop's own startup syscalls.
const RECORD_BYTES = 384;
const losslessRingKb = nextPowerOfTwo(((losslessCalls + 1000) * RECORD_BYTES) / 1024);

const LOOP_CPU = '1';
const TRACER_CPU = '0';
// syscall_trace filters on comm: the first 15 bytes of the binary's name.
const COMM = 'ft_bench_loop';
const NR_GETPPID = 110; // x86_64
const RATE = 10_000_000; // the schema's maximum; far above the loop's ~2M calls/s
const DRAIN_MS = 200;
const loop = renamedCopy(workload('getppid_loop'), COMM);

const nsPerCall = async (n, wrapper = []) => {
  const cmd = [...wrapper, 'taskset', '-c', LOOP_CPU, loop, String(n)];
  const out = await run(cmd[0], cmd.slice(1));
  return Number(out.trim().split('\n').pop());
};

/**
 * Drains `session` every DRAIN_MS (never two drains at once), counting the
 * getppid events and the loss by cause; rows are dropped once counted.
 */
function drainer(session) {
  const acc = { delivered: 0, other: 0, lost: 0, lostDetail: {} };
  let inFlight = null;
  const once = async () => {
    const { rows, lost, lostDetail } = await session.drain();
    for (const r of rows) {
      if (r.nr === NR_GETPPID) acc.delivered++;
      else acc.other++;
    }
    acc.lost += lost;
    for (const [cause, n] of Object.entries(lostDetail ?? {}))
      acc.lostDetail[cause] = (acc.lostDetail[cause] ?? 0) + n;
    return rows.length;
  };
  const timer = setInterval(() => {
    if (!inFlight) inFlight = once().finally(() => (inFlight = null));
  }, DRAIN_MS);
  return {
    acc,
    /**
     * Stops the timer and drains until the ring reader has been idle for two
     * drains in a row: by then every event the kernel side kept has reached
     * JavaScript (the reader consumes the whole ring each time it wakes).
     */
    async finish() {
      clearInterval(timer);
      if (inFlight) await inFlight;
      let quiet = 0;
      let records = session.readerStats().records;
      for (let i = 0; i < 600 && quiet < 2; i++) {
        await sleep(DRAIN_MS);
        const n = await once();
        const now = session.readerStats().records;
        quiet = n === 0 && now === records ? quiet + 1 : 0;
        records = now;
      }
      return acc;
    },
  };
}

/** fleettrace per-round detail: events delivered and lost, agent CPU time. */
const ftDetail = {};

const fleettrace = (label, n, kb) => async () => {
  const cpu0 = process.cpuUsage();
  const session = await collector.start({
    params: collector.parseParams({ rate: RATE, ring_kb: kb }, 'params'),
    filters: { comm: COMM },
    host: localHost(),
  });
  try {
    const d = drainer(session);
    const ns = await nsPerCall(n);
    const acc = await d.finish();
    const cpu = process.cpuUsage(cpu0);
    (ftDetail[label] ??= []).push({ ...acc, calls: n, cpuMs: (cpu.user + cpu.system) / 1000 });
    return ns;
  } finally {
    await session.close();
  }
};

const modes = {
  baseline: () => nsPerCall(calls),
  [`fleettrace (ring ${ringKb} KB)`]: fleettrace('ring', calls, ringKb),
  [`fleettrace (ring ${losslessRingKb} KB, lossless)`]: fleettrace(
    'lossless',
    losslessCalls,
    losslessRingKb,
  ),
  'strace -f': () => nsPerCall(straceCalls, ['strace', '-f', '-o', '/dev/null']),
  'perf trace': () => nsPerCall(perfCalls, ['perf', 'trace', '-o', '/dev/null', '--']),
};
const [, FT_RING, FT_LOSSLESS] = Object.keys(modes);

await pinProcess(TRACER_CPU);
const activityBefore = await hostActivity();
const samples = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
const failures = {};
for (let r = 1; r <= rounds; r++) {
  for (const mode of shuffle(Object.keys(modes))) {
    if (failures[mode]) continue;
    try {
      const ns = await modes[mode]();
      samples[mode].push(ns);
      const d =
        mode === FT_RING
          ? ftDetail.ring.at(-1)
          : mode === FT_LOSSLESS
            ? ftDetail.lossless.at(-1)
            : undefined;
      const extra = d ? `, ${d.delivered} delivered, ${d.lost} lost` : '';
      process.stderr.write(`round ${r}/${rounds} ${mode}: ${ns.toFixed(1)} ns/call${extra}\n`);
    } catch (err) {
      failures[mode] = err.message.split('\n')[0];
      process.stderr.write(`${mode}: unavailable: ${failures[mode]}\n`);
    }
  }
}

const activityAfter = await hostActivity();

const base = median(samples.baseline);
const rows = Object.keys(modes).map((mode) => {
  if (failures[mode] || samples[mode].length === 0)
    return { mode, ns: NaN, added: NaN, note: `unavailable: ${failures[mode] ?? 'no rounds'}` };
  const ns = median(samples[mode]);
  return {
    mode,
    ns,
    added: ns - base,
    note: `${samples[mode].length} rounds, ${samples[mode].map((x) => x.toFixed(0)).join(' / ')}`,
  };
});
const added = Object.fromEntries(rows.map((r) => [r.mode, r.added]));
const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

const table = [
  '| mode | calls | ns per call (median) | added ns per call | × fleettrace lossless | samples |',
  '|---|---:|---:|---:|---:|---|',
  ...rows.map((r) => {
    const n = {
      baseline: calls,
      [FT_RING]: calls,
      [FT_LOSSLESS]: losslessCalls,
      'strace -f': straceCalls,
      'perf trace': perfCalls,
    }[r.mode];
    const times =
      r.mode === 'baseline' || r.mode === FT_LOSSLESS ? '—' : fmt(r.added / added[FT_LOSSLESS]);
    return `| ${r.mode} | ${n} | ${fmt(r.ns)} | ${r.mode === 'baseline' ? '—' : fmt(r.added)} | ${times} | ${r.note} |`;
  }),
].join('\n');

const lossTable = [
  '| fleettrace mode | round | getppid events delivered | lost (ring buffer full / rate limit / agent queue full) | agent CPU ms |',
  '|---|---:|---:|---|---:|',
  ...[
    [FT_RING, ftDetail.ring ?? []],
    [FT_LOSSLESS, ftDetail.lossless ?? []],
  ].flatMap(([mode, list]) =>
    list.map((d, i) => {
      const l = d.lostDetail;
      const causes = `${l['ring buffer full'] ?? 0} / ${l['rate limit'] ?? 0} / ${l['agent queue full'] ?? 0}`;
      const pct = ((100 * d.delivered) / d.calls).toFixed(1);
      return `| ${mode} | ${i + 1} | ${d.delivered} of ${d.calls} (${pct}%) | ${d.lost}: ${causes} | ${d.cpuMs.toFixed(0)} |`;
    }),
  ),
].join('\n');

// The decoding cost is paid on the other CPU, per event delivered (it includes loading the program).
const agentUs = median(
  [...(ftDetail.ring ?? []), ...(ftDetail.lossless ?? [])].map(
    (d) => (1000 * d.cpuMs) / d.delivered,
  ),
);
const straceRatio = added['strace -f'] / added[FT_LOSSLESS];
const straceRatioRing = added['strace -f'] / added[FT_RING];
const perfRatio = added['perf trace'] / added[FT_LOSSLESS];
const verdict =
  `strace added / fleettrace added: **${fmt(straceRatio)}×** with every call traced and kept ` +
  `(${fmt(straceRatioRing)}× with the ${ringKb} KB ring, which loses events); goal ≥ 100×. ` +
  `perf trace / fleettrace: ${fmt(perfRatio)}×. ` +
  (straceRatio >= 100 ? 'Goal met.' : 'Goal not met.') +
  ` Agent CPU per event delivered (on the other CPU, not in the loop's time): ${fmt(agentUs)} µs (median).`;
console.log(table + '\n\n' + lossTable + '\n\n' + verdict);
recordSection(
  'syscall-trace-overhead',
  `Command: \`node bench/syscall-trace-overhead/run.mjs --rounds ${rounds} --calls ${calls} --ring-kb ${ringKb}\` (as root, after \`pnpm build\`)\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}. ` +
    `Host activity before: ${activityBefore}; after: ${activityAfter}.\n\n` +
    `A C loop of getppid() times itself; modes are interleaved in shuffled order over ${rounds} rounds. ` +
    `The loop runs on CPU ${LOOP_CPU}; the benchmark process (fleettrace's ring reader and JavaScript decoding), ` +
    `strace and perf on CPU ${TRACER_CPU}. fleettrace is the \`syscall_trace\` collector with a comm filter on the loop ` +
    `and \`rate: ${RATE}\` so the rate limit refuses nothing, drained every ${DRAIN_MS} ms; strace and perf trace ` +
    `write one line per call to /dev/null. "× fleettrace lossless" divides each added cost by that of the lossless ` +
    `fleettrace mode, whose ring holds the whole round so every event is kept and its full cost paid.\n\n` +
    `${table}\n\nEvents fleettrace delivered to JavaScript and lost, per round (agent CPU: this process, ` +
    `including decoding after the loop ended):\n\n${lossTable}\n\n${verdict}\n`,
);
