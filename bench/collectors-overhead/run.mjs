// SPDX-License-Identifier: Apache-2.0
// bench/collectors-overhead: what each collector adds to a workload that
// exercises its hook, side by side with the bpftrace script that gathers the
// same data through the same events, empty programs on the same hooks (the
// floor), and perf's own counting mode where it has one.
//
// Per hook, interleaved rounds in shuffled order of: nothing attached; the
// floor; the fleettrace collector; bpftrace; `perf stat -a` (counting, no split
// by process: what a user would run first). Each workload times itself, so
// attach and teardown are outside the measurement. Prints the median added
// cost per event, the collector's multiple of the floor and its ratio to
// bpftrace (goals: at most 2× the floor, at most 0.5× bpftrace's added cost),
// and records the run in bench/RESULTS.md.
//
//   counters / page faults:       fault_loop (anonymous memory touched page by page)
//   counters / context switches:  pipe_pingpong on one CPU (two switches per round trip)
//
// usage: node bench/collectors-overhead/run.mjs [--rounds 5]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { machine, median, recordSection, run, shuffle, startTracer, stopTracer } from '../lib.mjs';

const require = createRequire(import.meta.url);
const { workload } = require('@fleettrace/testing');
const { collector: collectorNamed, localHost, bpfObjectPath } = require('@fleettrace/collectors');
const { BpfObject, PERF_TYPE_SOFTWARE } = require('@fleettrace/native');

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const counters = collectorNamed('counters');

/** A workload run: its cost per event, ns. */
const HOOKS = [
  {
    name: 'counters: page faults',
    unit: 'fault',
    perf: { config: 2, event: 'page-faults' },
    bpftrace: 'software:page-faults:1 { @[pid, comm] = count(); }',
    params: { events: 'page_faults' },
    measure: async (wrapper = []) => {
      const loop = workload('fault_loop');
      const out = await run(wrapper[0] ?? loop, [
        ...wrapper.slice(1),
        ...(wrapper.length ? [loop] : []),
        '64',
        '10',
      ]);
      return Number(/ns_per_fault ([\d.]+)/.exec(out)[1]);
    },
  },
  {
    name: 'counters: context switches',
    unit: 'switch',
    perf: { config: 3, event: 'context-switches' },
    bpftrace: 'software:context-switches:1 { @[pid, comm] = count(); }',
    params: { events: 'context_switches' },
    measure: async (wrapper = []) => {
      const pingpong = workload('pipe_pingpong');
      const cmd = [...wrapper, 'taskset', '-c', '0', pingpong, '2'];
      const out = await run(cmd[0], cmd.slice(1));
      const trips = Number(/round_trips (\d+)/.exec(out)[1]);
      const wall = Number(/wall_ns (\d+)/.exec(out)[1]);
      return wall / trips / 2;
    },
  },
];

function modesOf(hook) {
  return {
    baseline: () => hook.measure(),
    floor: async () => {
      const obj = BpfObject.fromFile(bpfObjectPath('hook_floor'), 'ft_floor');
      for (const p of obj.programs()) obj.setAutoload(p.name, p.name === 'ft_floor_perf_event');
      await obj.load();
      obj.attachPerfEvent('ft_floor_perf_event', {
        type: PERF_TYPE_SOFTWARE,
        config: hook.perf.config,
        period: 1,
      });
      try {
        return await hook.measure();
      } finally {
        obj.closeNow();
      }
    },
    fleettrace: async () => {
      const session = await counters.start({
        params: counters.parseParams(hook.params, 'params'),
        filters: {},
        host: localHost(),
      });
      try {
        return await hook.measure();
      } finally {
        await session.drain();
        await session.close();
      }
    },
    bpftrace: async () => {
      const bt = await startTracer('bpftrace', ['-e', hook.bpftrace], /Attaching \d+ probes?/);
      try {
        return await hook.measure();
      } finally {
        await stopTracer(bt);
      }
    },
    'perf stat -a': () =>
      hook.measure(['perf', 'stat', '-a', '-e', hook.perf.event, '-o', '/dev/null', '--']),
  };
}

/** ns per run of the perf_event programs loaded now that ran, by name (bpftool). */
async function perfEventRunCosts() {
  const progs = JSON.parse(await run('bpftool', ['-j', 'prog', 'show']));
  return progs
    .filter((p) => p.type === 'perf_event' && p.run_cnt > 0)
    .map((p) => ({ name: p.name, perRun: p.run_time_ns / p.run_cnt }));
}

/** The program bodies' cost per run, with run-time statistics on for one workload run each. */
async function programCost(hook) {
  const out = { fleettrace: 'unavailable', bpftrace: 'unavailable' };
  await run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  try {
    const session = await counters.start({
      params: counters.parseParams(hook.params, 'params'),
      filters: {},
      host: localHost(),
    });
    try {
      await hook.measure();
      const mine = (await perfEventRunCosts()).find((p) => p.name.startsWith('ft_ct_'));
      if (mine) out.fleettrace = `${mine.perRun.toFixed(0)} ns`;
    } finally {
      await session.close();
    }
    const bt = await startTracer('bpftrace', ['-e', hook.bpftrace], /Attaching \d+ probes?/);
    try {
      await hook.measure();
      const theirs = (await perfEventRunCosts()).find((p) => !p.name.startsWith('ft_'));
      if (theirs) out.bpftrace = `${theirs.perRun.toFixed(0)} ns`;
    } finally {
      await stopTracer(bt);
    }
  } catch (err) {
    process.stderr.write(`program cost: ${err.message}\n`);
  } finally {
    await run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=0']);
  }
  return out;
}

const sections = [];
for (const hook of HOOKS) {
  const modes = modesOf(hook);
  const samples = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  const failures = {};
  for (let r = 1; r <= rounds; r++) {
    for (const mode of shuffle(Object.keys(modes))) {
      if (failures[mode]) continue;
      try {
        const ns = await modes[mode]();
        samples[mode].push(ns);
        process.stderr.write(
          `${hook.name} round ${r}/${rounds} ${mode}: ${ns.toFixed(1)} ns/${hook.unit}\n`,
        );
      } catch (err) {
        failures[mode] = err.message.split('\n')[0];
        process.stderr.write(`${hook.name} ${mode}: unavailable: ${failures[mode]}\n`);
      }
    }
  }
  const base = median(samples.baseline);
  const rows = Object.keys(modes).map((mode) => {
    if (failures[mode])
      return { mode, ns: NaN, added: NaN, note: `unavailable: ${failures[mode]}` };
    const ns = median(samples[mode]);
    return { mode, ns, added: ns - base, note: samples[mode].map((x) => x.toFixed(0)).join(' / ') };
  });
  const added = Object.fromEntries(rows.map((r) => [r.mode, r.added]));
  const table = [
    `| mode | ns per ${hook.unit} (median) | added ns per ${hook.unit} | × fleettrace's added | rounds |`,
    '|---|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.ns.toFixed(1)} | ${r.mode === 'baseline' ? '—' : r.added.toFixed(1)} | ${
          ['baseline', 'fleettrace'].includes(r.mode)
            ? '—'
            : (r.added / added.fleettrace).toFixed(2)
        } | ${r.note} |`,
    ),
  ].join('\n');
  const body = await programCost(hook);
  const bodyLine =
    `In-kernel time per program run (kernel.bpf_stats_enabled, one extra run each): ` +
    `fleettrace ${body.fleettrace}, bpftrace ${body.bpftrace}; the rest of each added cost is ` +
    `the perf event's own sampling path, which the floor pays too.`;
  const verdict =
    `**${hook.name}**: fleettrace adds ${added.fleettrace.toFixed(1)} ns per ${hook.unit}: ` +
    `${(added.fleettrace / added.floor).toFixed(2)}× the floor (goal ≤ 2×), ` +
    `${(added.fleettrace / added.bpftrace).toFixed(2)}× bpftrace's added cost (goal ≤ 0.5×).`;
  console.log(`${hook.name}\n${table}\n\n${verdict}\n${bodyLine}\n`);
  sections.push(`### ${hook.name}\n\n${table}\n\n${verdict}\n\n${bodyLine}`);
}

recordSection(
  'collectors-overhead',
  `Command: \`node bench/collectors-overhead/run.mjs --rounds ${rounds}\` (as root, after \`pnpm build\`)\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}.\n\n` +
    `Each workload times itself; modes are interleaved in shuffled order over ${rounds} rounds, medians shown. ` +
    `Tracing is system-wide in every mode. "floor" is an empty perf_event program on the same software event ` +
    `with period 1 (\`bpf/testing/hook_floor.bpf.c\`); fleettrace is the collector with default parameters for ` +
    `that event (period 1: exact counts per process); bpftrace counts the same event per pid and comm; ` +
    `\`perf stat -a\` counts without sampling and without a split by process.\n\n${sections.join('\n\n')}\n`,
);
