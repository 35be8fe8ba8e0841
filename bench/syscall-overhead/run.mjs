// SPDX-License-Identifier: Apache-2.0
// bench/syscall-overhead: what tracing adds to a getppid() tight loop, per call.
//
// Interleaved rounds (order shuffled each round) of: nothing attached; empty
// programs on sys_enter and sys_exit (the floor: what any syscall hook costs
// merely by being attached), and on sys_exit alone; our `syscalls` collector,
// attached and as duty cycling leaves it detached (its count-only program
// alone); the bpftrace one-liner
// that gathers the same data; `strace -c -f`; `perf trace -s`. The loop times
// itself (so attach and teardown are outside the measurement) and prints ns
// per call. Prints the median added ns per call of each, the collector's
// multiple of the floor and its ratio to bpftrace, and records the run in
// bench/RESULTS.md.
//
// usage: node bench/syscall-overhead/run.mjs [--rounds 5] [--calls 2000000]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { machine, median, recordSection, run, shuffle, startTracer, stopTracer } from '../lib.mjs';

const require = createRequire(import.meta.url);
const { workload } = require('@fleettrace/testing');
const { collector: collectorNamed, localHost, bpfObjectPath } = require('@fleettrace/collectors');
const collector = collectorNamed('syscalls');
const { BpfObject } = require('@fleettrace/native');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '2000000' },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);
// ptrace-based strace costs ~100 us per call: fewer calls keep a round short.
const straceCalls = Math.max(10_000, Math.round(calls / 100));
const perfCalls = Math.max(50_000, Math.round(calls / 10));
const loop = workload('getppid_loop');

const BPFTRACE = `tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; }
tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @lat[pid, args->id] = hist(nsecs - @s[tid]); delete(@s[tid]); }`;

const nsPerCall = async (n, wrapper = []) => {
  const out = wrapper.length
    ? await run(wrapper[0], [...wrapper.slice(1), loop, String(n)])
    : await run(loop, [String(n)]);
  return Number(out.trim().split('\n').pop());
};

/** Empty programs attached: those of hook_floor.bpf.c whose name matches `names`. */
const floorOf = async (names) => {
  const obj = BpfObject.fromFile(bpfObjectPath('hook_floor'), 'ft_floor');
  for (const p of obj.programs()) obj.setAutoload(p.name, names.test(p.name));
  await obj.load();
  obj.attachAll();
  try {
    return await nsPerCall(calls);
  } finally {
    obj.closeNow();
  }
};

/** The collector with its defaults; `detached`: as duty cycling leaves it, the count-only program alone. */
const fleettrace = async (detached) => {
  const session = await collector.start({
    params: collector.parseParams({}, 'params'),
    filters: {},
    host: localHost(),
  });
  if (detached) session.dutyCycle.setAttached(false);
  try {
    return await nsPerCall(calls);
  } finally {
    await session.drain();
    await session.close();
  }
};

const modes = {
  baseline: () => nsPerCall(calls),
  floor: () => floorOf(/^ft_floor_e(nter|xit)$/),
  'floor, sys_exit only': () => floorOf(/^ft_floor_exit$/),
  fleettrace: () => fleettrace(false),
  'fleettrace detached, counting': () => fleettrace(true),
  bpftrace: async () => {
    const bt = await startTracer('bpftrace', ['-e', BPFTRACE], /Attaching \d+ probes/);
    try {
      return await nsPerCall(calls);
    } finally {
      await stopTracer(bt);
    }
  },
  'strace -c -f': () => nsPerCall(straceCalls, ['strace', '-c', '-f', '-o', '/dev/null']),
  'perf trace -s': () => nsPerCall(perfCalls, ['perf', 'trace', '-s', '-o', '/dev/null', '--']),
};

const samples = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
const failures = {};
for (let r = 1; r <= rounds; r++) {
  for (const mode of shuffle(Object.keys(modes))) {
    if (failures[mode]) continue;
    try {
      const ns = await modes[mode]();
      samples[mode].push(ns);
      process.stderr.write(`round ${r}/${rounds} ${mode}: ${ns.toFixed(1)} ns/call\n`);
    } catch (err) {
      failures[mode] = err.message.split('\n')[0];
      process.stderr.write(`${mode}: unavailable: ${failures[mode]}\n`);
    }
  }
}

const base = median(samples.baseline);
const rows = Object.keys(modes).map((mode) => {
  if (failures[mode]) return { mode, ns: NaN, added: NaN, note: `unavailable: ${failures[mode]}` };
  const ns = median(samples[mode]);
  return {
    mode,
    ns,
    added: ns - base,
    note: `${samples[mode].length} rounds, ${samples[mode].map((x) => x.toFixed(0)).join(' / ')}`,
  };
});
const added = Object.fromEntries(rows.map((r) => [r.mode, r.added]));
const ratio = added.fleettrace / added.bpftrace;
const floorMultiple = added.fleettrace / added.floor;

const table = [
  '| mode | ns per call (median) | added ns per call | × fleettrace | samples |',
  '|---|---:|---:|---:|---|',
  ...rows.map(
    (r) =>
      `| ${r.mode} | ${r.ns.toFixed(1)} | ${r.mode === 'baseline' ? '—' : r.added.toFixed(1)} | ${
        r.mode === 'baseline' || r.mode === 'fleettrace' || r.mode.startsWith('floor')
          ? '—'
          : (r.added / added.fleettrace).toFixed(1)
      } | ${r.note} |`,
  ),
].join('\n');
const verdict =
  `fleettrace added cost: **${floorMultiple.toFixed(2)}× the floor** (empty sys_enter + sys_exit programs, ` +
  `${added.floor.toFixed(1)} ns; goal ≤ 2×), ${ratio.toFixed(2)}× bpftrace's.\n\n` +
  `Duty-cycled, with its programs detached, the count-only exit program still counts every call: ` +
  `**${added['fleettrace detached, counting'].toFixed(1)} ns** a call, ` +
  `${(added['fleettrace detached, counting'] / added['floor, sys_exit only']).toFixed(2)}× an empty sys_exit program ` +
  `(${added['floor, sys_exit only'].toFixed(1)} ns) and ` +
  `${(added['fleettrace detached, counting'] / added.fleettrace).toFixed(2)}× the attached collector.`;
console.log(table + '\n\n' + verdict);
recordSection(
  'syscall-overhead',
  `Command: \`node bench/syscall-overhead/run.mjs --rounds ${rounds} --calls ${calls}\` (as root, after \`pnpm build\`)\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}.\n\n` +
    `A C loop of getppid() times itself (${calls} calls; ${straceCalls} under strace, ${perfCalls} under perf trace); ` +
    `modes are interleaved in shuffled order over ${rounds} rounds. Tracing is system-wide in both fleettrace ` +
    `(\`syscalls\` collector, no filter, default sampling of latency: every call counted, the first 16 calls per task per tick and the first of each syscall per tick timed) and bpftrace (the one-liner of issue 2). "floor" is two empty raw tracepoint programs on sys_enter and sys_exit (\`bpf/testing/hook_floor.bpf.c\`), "floor, sys_exit only" the second alone. "fleettrace detached, counting" is the collector as duty cycling leaves it between its attached parts: \`ft_sc_count\` alone (count_while_detached, the default).\n\n${table}\n\n${verdict}\n`,
);
