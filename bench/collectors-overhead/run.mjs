// SPDX-License-Identifier: Apache-2.0
// bench/collectors-overhead: what each collector adds to a workload that
// exercises its hook, side by side with a bpftrace script gathering the same
// data through tracepoints (Debian's .bt tools mostly need kprobes, which
// this kernel lacks), empty programs on the same hooks (the floor), and
// perf's own counting mode where it has one.
//
// Per hook, interleaved rounds in shuffled order of: nothing attached; the
// floor; the fleettrace collector; bpftrace; (`perf stat -a` for counters).
// Each workload times itself, so attach and teardown are outside the
// measurement. Prints the median added cost per event, the collector's
// multiple of the floor and its ratio to bpftrace (goals: at most 2× the
// floor, at most 0.5× bpftrace's added cost), the program bodies' in-kernel
// time per run from BPF statistics, and records the run in bench/RESULTS.md.
//
// usage: node bench/collectors-overhead/run.mjs [--rounds 3] [--only counters,tcp]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, median, recordSection, run, shuffle, startTracer, stopTracer } from '../lib.mjs';

const require = createRequire(import.meta.url);
const { workload } = require('@fleettrace/testing');
const { collector: collectorNamed, localHost, bpfObjectPath } = require('@fleettrace/collectors');
const { BpfObject, PERF_TYPE_SOFTWARE } = require('@fleettrace/native');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const rounds = Number(values.rounds);

/** The number a timing workload prints last. */
const lastNumber = (out) => Number(out.trim().split('\n').pop());

/**
 * Wake-up heavy workloads (a connection's two ends, a block device's worker)
 * are timed with a SCHED_IDLE spinner on each CPU: a CPU that idles takes
 * microseconds to wake, and whichever mode happened to keep the CPUs busier
 * (a ring reader polling) would look faster than the baseline. A spinner
 * yields to any other task at once.
 */
let spinners = [];
function startSpinners() {
  spinners = Array.from({ length: availableParallelism() }, () =>
    spawn('chrt', ['--idle', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }),
  );
}
async function stopSpinners() {
  await Promise.all(
    spinners.map((p) => {
      const exited = once(p, 'exit');
      p.kill('SIGKILL');
      return exited;
    }),
  );
  spinners = [];
}

/** Events (faults, calls, writes…) the last measured run made: in-kernel time is divided by it. */
let lastEvents = 0;
const made = (n, value) => {
  lastEvents = n;
  return value;
};

const uprobeBin = () => workload('uprobe_target');
const scratchShm = mkdtempSync('/dev/shm/fleettrace-bench-');
let loopDevice = '';

/** One hook per collector: its workload, the floor's programs, bpftrace's script. */
const HOOKS = [
  {
    name: 'counters: page faults',
    collector: 'counters',
    unit: 'fault',
    params: { events: 'page_faults' },
    // the page-fault event counting on every CPU, and an empty program at each switch
    floor: { counting: 2, programs: ['ft_floor_switch'] },
    perfStat: 'page-faults',
    bpftrace: () => 'software:page-faults:1 { @[pid, comm] = count(); }',
    measure: async (wrap = []) => {
      const out = await run(wrap[0] ?? workload('fault_loop'), [
        ...wrap.slice(1),
        ...(wrap.length ? [workload('fault_loop')] : []),
        '64',
        '10',
      ]);
      return made(
        Number(/faults (\d+)/.exec(out)[1]),
        Number(/ns_per_fault ([\d.]+)/.exec(out)[1]),
      );
    },
  },
  {
    name: 'counters: context switches',
    collector: 'counters',
    unit: 'switch',
    params: { events: 'context_switches' },
    // context switches need no perf event: an empty program at each switch
    floor: { programs: ['ft_floor_switch'] },
    perfStat: 'context-switches',
    bpftrace: () => 'software:context-switches:1 { @[pid, comm] = count(); }',
    measure: async (wrap = []) => {
      const cmd = [...wrap, 'taskset', '-c', '0', workload('pipe_pingpong'), '2'];
      const out = await run(cmd[0], cmd.slice(1));
      const switches = Number(/round_trips (\d+)/.exec(out)[1]) * 2;
      return made(switches, Number(/wall_ns (\d+)/.exec(out)[1]) / switches);
    },
  },
  {
    name: 'tracepoint: syscalls:sys_enter_getppid',
    collector: 'tracepoint',
    unit: 'call',
    params: { name: 'syscalls:sys_enter_getppid' },
    floor: { programs: ['ft_floor_tp_getppid'] },
    bpftrace: () => 'tracepoint:syscalls:sys_enter_getppid { @[uid, comm] = count(); }',
    measure: async () => made(2e6, lastNumber(await run(workload('getppid_loop'), ['2000000']))),
  },
  {
    name: 'uprobe: a user function',
    collector: 'uprobe',
    unit: 'call',
    params: () => ({ target: `${uprobeBin()}:fleettrace_test_fn` }),
    floor: { uprobes: ['ft_floor_uprobe', 'ft_floor_uretprobe'] },
    bpftrace: () =>
      `uprobe:${uprobeBin()}:fleettrace_test_fn { @s[tid] = nsecs; } ` +
      `uretprobe:${uprobeBin()}:fleettrace_test_fn /@s[tid]/ { @[pid, comm] = hist(nsecs - @s[tid]); delete(@s[tid]); }`,
    measure: async () => made(1e5, lastNumber(await run(uprobeBin(), ['--bench', '100000']))),
  },
  {
    name: 'file_opens: open()',
    collector: 'file_opens',
    unit: 'open',
    // every open reported, as bpftrace's printf does (the default caps the host at 20,000/s)
    params: { rate: 10_000_000 },
    floor: { programs: ['ft_floor_openat_enter', 'ft_floor_openat_exit'] },
    bpftrace: () =>
      'tracepoint:syscalls:sys_enter_openat { @f[tid] = args->filename; } ' +
      'tracepoint:syscalls:sys_exit_openat /@f[tid]/ { printf("%d %d %s %d %s\\n", pid, uid, comm, args->ret, str(@f[tid])); delete(@f[tid]); }',
    measure: async () => made(2e5, lastNumber(await run(workload('open_loop'), ['200000']))),
  },
  {
    name: 'biolatency: O_DIRECT 4 KiB writes',
    collector: 'biolatency',
    unit: 'write',
    params: {},
    floor: { programs: ['ft_floor_rq_issue', 'ft_floor_rq_complete'] },
    bpftrace: () =>
      'tracepoint:block:block_rq_issue { @s[args->dev, args->sector] = nsecs; } ' +
      'tracepoint:block:block_rq_complete /@s[args->dev, args->sector]/ { @[args->dev, args->rwbs] = hist(nsecs - @s[args->dev, args->sector]); delete(@s[args->dev, args->sector]); }',
    // to a loop device over a file in memory: the host's disk would add its own latency's noise
    setup: async () => {
      startSpinners();
      const file = join(scratchShm, 'loop');
      await run('truncate', ['-s', '128M', file]);
      loopDevice = (await run('losetup', ['--find', '--show', file])).trim();
    },
    teardown: async () => {
      await stopSpinners();
      if (loopDevice) await run('losetup', ['-d', loopDevice]);
      loopDevice = '';
    },
    measure: async () =>
      made(20_000, lastNumber(await run(workload('direct_write'), [loopDevice, '20000']))),
  },
  {
    name: 'tcp: loopback connections',
    collector: 'tcp',
    unit: 'connection',
    params: {},
    floor: { programs: ['ft_floor_sock_state', 'ft_floor_retransmit', 'ft_floor_accept4'] },
    bpftrace: () =>
      'tracepoint:sock:inet_sock_set_state /args->protocol == 6/ { ' +
      'if (args->newstate == 2) { @start[args->skaddr] = nsecs; @pid[args->skaddr] = pid; } ' +
      'if (args->newstate == 7 && @start[args->skaddr]) { printf("%d %d %d\\n", @pid[args->skaddr], args->dport, (nsecs - @start[args->skaddr]) / 1000); delete(@start[args->skaddr]); delete(@pid[args->skaddr]); } } ' +
      'tracepoint:tcp:tcp_retransmit_skb { @retrans[args->dport] = count(); }',
    measure: async () => made(10_000, lastNumber(await run(workload('connect_loop'), ['10000']))),
  },
].filter((h) => !values.only || values.only.split(',').includes(h.collector));

const paramsOf = (hook) => (typeof hook.params === 'function' ? hook.params() : hook.params);

async function startCollector(hook) {
  const c = collectorNamed(hook.collector);
  return c.start({
    params: c.parseParams(paramsOf(hook), 'params'),
    filters: {},
    host: localHost(),
  });
}

async function withFloor(hook, fn) {
  const obj = BpfObject.fromFile(bpfObjectPath('hook_floor'), 'ft_floor');
  const wanted = hook.floor.programs ?? hook.floor.uprobes;
  for (const p of obj.programs()) obj.setAutoload(p.name, wanted.includes(p.name));
  await obj.load();
  try {
    if (hook.floor.counting)
      obj.countPerfEvent('ft_floor_counting', {
        type: PERF_TYPE_SOFTWARE,
        config: hook.floor.counting,
      });
    if (hook.floor.uprobes)
      hook.floor.uprobes.forEach((p) =>
        obj.attachUprobe(p, {
          binary: uprobeBin(),
          symbol: 'fleettrace_test_fn',
          retprobe: p.includes('uret'),
        }),
      );
    else for (const p of hook.floor.programs) obj.attach(p);
    return await fn();
  } finally {
    obj.closeNow();
  }
}

function modesOf(hook) {
  const modes = {
    baseline: () => hook.measure(),
    floor: () => withFloor(hook, () => hook.measure()),
    fleettrace: async () => {
      const session = await startCollector(hook);
      let ns;
      try {
        ns = await hook.measure();
      } finally {
        const { lost, lostDetail } = await session.drain();
        await session.close();
        // Lost events cost less than stored ones: a run that lost some is shown with its loss.
        if (lost > 0)
          lossOf[hook.name].push(
            `${lost} of ${lastEvents} ${hook.unit}s lost (${Object.entries(lostDetail ?? {})
              .filter(([, n]) => n > 0)
              .map(([cause, n]) => `${cause} ${n}`)
              .join(', ')})`,
          );
      }
      return ns;
    },
    bpftrace: async () => {
      const bt = await startTracer('bpftrace', ['-e', hook.bpftrace()], /Attaching \d+ probes?/);
      // bpftrace says "Attaching" before it attaches: give it a moment.
      await new Promise((r) => setTimeout(r, 500));
      try {
        return await hook.measure();
      } finally {
        await stopTracer(bt);
      }
    },
  };
  if (hook.perfStat)
    modes['perf stat -a'] = () =>
      hook.measure(['perf', 'stat', '-a', '-e', hook.perfStat, '-o', '/dev/null', '--']);
  return modes;
}

/** ns per run of the programs loaded now that ran, by name (bpftool). */
async function programRuns() {
  return JSON.parse(await run('bpftool', ['-j', 'prog', 'show']))
    .filter((p) => p.run_cnt > 0)
    .map((p) => ({ name: p.name ?? '', runs: p.run_cnt, ns: p.run_time_ns }));
}

/**
 * The programs' in-kernel time per workload event (BPF run-time statistics on
 * for one more run of each of the floor, fleettrace and bpftrace): precise
 * where wall-clock differences drown in a workload's own noise, though it
 * leaves out what entering a hook costs outside the program.
 */
async function programCost(hook) {
  const out = {};
  const perEvent = (progs) => {
    const runs = progs.reduce((n, p) => n + p.runs, 0);
    const ns = progs.reduce((n, p) => n + p.ns, 0);
    return {
      runs,
      ns,
      perEvent: lastEvents ? ns / lastEvents : NaN,
      runsPerEvent: runs / lastEvents,
    };
  };
  await run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  try {
    await withFloor(hook, async () => {
      await hook.measure();
      out.floor = perEvent((await programRuns()).filter((p) => p.name.startsWith('ft_floor')));
    });
    const session = await startCollector(hook);
    try {
      await hook.measure();
      out.fleettrace = perEvent(
        (await programRuns()).filter(
          (p) => p.name.startsWith('ft_') && !p.name.startsWith('ft_floor'),
        ),
      );
    } finally {
      await session.close();
    }
    const bt = await startTracer('bpftrace', ['-e', hook.bpftrace()], /Attaching \d+ probes?/);
    await new Promise((r) => setTimeout(r, 500));
    try {
      await hook.measure();
      out.bpftrace = perEvent((await programRuns()).filter((p) => !p.name.startsWith('ft_')));
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

/** The in-kernel line of a hook. */
function programLine(hook, cost) {
  const f = cost.fleettrace;
  if (!f || !cost.floor || !cost.bpftrace) return 'In-kernel time: unavailable.';
  const cell = (c) =>
    `${c.perEvent.toFixed(0)} ns per ${hook.unit} (${c.runsPerEvent.toFixed(2)} program runs per ${hook.unit})`;
  return (
    `In-kernel time (kernel.bpf_stats_enabled, one more run each): fleettrace ${cell(f)}, ` +
    `the floor's empty programs ${cell(cost.floor)}, bpftrace ${cell(cost.bpftrace)}: ` +
    `fleettrace's programs take ${(f.perEvent / cost.bpftrace.perEvent).toFixed(2)}× bpftrace's time.`
  );
}

/** What fleettrace lost in its timed runs, per hook. */
const lossOf = Object.fromEntries(HOOKS.map((h) => [h.name, []]));

const sections = [];
const summary = [];
try {
  for (const hook of HOOKS) {
    await hook.setup?.();
    try {
      await benchHook(hook);
    } finally {
      await hook.teardown?.();
    }
  }
} finally {
  rmSync(scratchShm, { recursive: true, force: true });
}

async function benchHook(hook) {
  {
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
      return {
        mode,
        ns,
        added: ns - base,
        note: samples[mode].map((x) => x.toFixed(0)).join(' / '),
      };
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
    const floorX = added.fleettrace / added.floor;
    const btX = added.fleettrace / added.bpftrace;
    // The baseline's own spread over the rounds: an added cost inside it is noise.
    const spread = Math.max(...samples.baseline) - Math.min(...samples.baseline);
    const noisy = ['fleettrace', 'floor', 'bpftrace'].filter((m) => Math.abs(added[m]) < spread);
    const verdict =
      `**${hook.name}**: fleettrace adds ${added.fleettrace.toFixed(1)} ns per ${hook.unit}: ` +
      `${floorX.toFixed(2)}× the floor (goal ≤ 2×), ${btX.toFixed(2)}× bpftrace's added cost (goal ≤ 0.5×).` +
      (noisy.length
        ? ` The baseline's rounds spread over ${spread.toFixed(0)} ns: the added cost of ${noisy.join(', ')} is within it, so these ratios are noise; the in-kernel times below are not.`
        : '');
    const lossLine = lossOf[hook.name].length
      ? `fleettrace lost events in its timed runs, so its figure leaves out their cost: ${lossOf[hook.name].join('; ')}.`
      : 'fleettrace lost no event in its timed runs.';
    const bodyLine = `${programLine(hook, await programCost(hook))}\n\n${lossLine}`;
    console.log(`${hook.name}\n${table}\n\n${verdict}\n${bodyLine}\n`);
    sections.push(`### ${hook.name}\n\n${table}\n\n${verdict}\n\n${bodyLine}`);
    summary.push(
      `| ${hook.name} | ${added.fleettrace.toFixed(0)} ns | ${floorX.toFixed(2)}× | ${btX.toFixed(2)}× |${[
        noisy.length ? ' within noise' : '',
        lossOf[hook.name].length ? ' fleettrace lost events' : '',
      ]
        .filter(Boolean)
        .join(';')} |`,
    );
  }
}

recordSection(
  'collectors-overhead',
  `Command: \`node bench/collectors-overhead/run.mjs --rounds ${rounds}${values.only ? ` --only ${values.only}` : ''}\` (as root, after \`pnpm build\`)\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}.\n\n` +
    `Each workload times itself; modes are interleaved in shuffled order over ${rounds} rounds, medians shown. ` +
    `Tracing is system-wide in every mode. "floor" is empty programs on the collector's hooks ` +
    `(\`bpf/testing/hook_floor.bpf.c\`; for counters, its events counting on every CPU and an empty program at each context switch); fleettrace is the collector with ` +
    `its default parameters (file_opens: no rate cap, so that every open is reported as bpftrace's printf does); ` +
    `bpftrace gathers the same data through tracepoints (the scripts are in this file); \`perf stat -a\` counts ` +
    `without sampling and without a split by process. A negative figure is noise: these are 2-CPU machines shared ` +
    `with other work.\n\n| hook | fleettrace adds | × the floor | × bpftrace's added | |\n|---|---:|---:|---:|---|\n${summary.join('\n')}\n\n${sections.join('\n\n')}\n`,
);
