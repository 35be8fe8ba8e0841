// SPDX-License-Identifier: Apache-2.0
// bench/always-on: what fleettrace's always-on default job costs software nobody
// here wrote, measured as that software's own throughput, side by side in one run.
//
// Workloads (--workloads, each its own table):
//   nginx     our own nginx (one worker, CPU 1, 127.0.0.1, a 2.7 KB static file,
//             access_log off) driven by wrk on CPU 0 (1 thread, 32 connections): requests/s.
//   forkexec  a dash loop starting /bin/true, on CPU 1: processes/s.
//   pipe      two processes ping-ponging one byte over a pipe pair, both on CPU 1
//             (packages/testing/workloads/pipe_pingpong.c): round trips/s.
// Modes, interleaved in shuffled order over --rounds rounds (workloads shuffled
// within each mode too):
//   baseline              nothing attached;
//   up                    `fleettrace up` with its default always-on job, measured once
//                         the job's run is running and past the agent's 20 s warm-up;
//                         the run's overhead_share is read from the controller's REST API
//                         every second of each measurement window;
//   trace <collector>     each collector of the default job alone, with the default
//                         job's parameters (one `fleettrace trace` per measurement, so its
//                         "kernel-side cost" line covers that workload only);
//   up --no-default-job   the controller, ingest and an idle agent;
//   bpftrace              the syscall-latency one-liner of bench/syscall-overhead.
// fleettrace and bpftrace are not pinned: they run where the scheduler puts them,
// as on a real host. Each window also records the CPU time used by every other
// process on the host, and one where that exceeds --max-other-load (default 20%
// of a CPU: a test run next to the benchmark) is measured again, up to --retries
// (default 2) times. Then the idle cost (--idle-seconds, 0 skips): utime + stime
// of `up` and all its descendants on an otherwise idle host, with and without
// the default job, per process, --idle-warmup seconds (default 90) after `up` was
// ready, with no API request during the window. Records the run in bench/RESULTS.md.
//
//   Before its measurement of each workload, `up` runs that workload unrecorded for
//   --settle seconds (default 40), so the agent has fitted its budget to the load.
// usage: node bench/always-on/run.mjs [--rounds 5] [--seconds 5] [--settle 40] [--idle-seconds 60] [--idle-warmup 90]
//          [--workloads nginx,forkexec,pipe]
//          [--modes baseline,up,proc,syscalls,cpu_profile,offcpu,runqlat,no-default-job,bpftrace]
//          [--max-other-load 20%] [--retries 2]
/* global fetch, AbortSignal -- Node 18+ globals */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  fleettracePrograms,
  freePort,
  hostActivity,
  machine,
  median,
  procStat,
  processTree,
  recordSection,
  shuffle,
} from '../lib.mjs';

const require = createRequire(import.meta.url);
const { workload } = require('@fleettrace/testing');

const ROOT = resolve(import.meta.dirname, '../..');
const FLEETTRACE = join(ROOT, 'bin/fleettrace');
const WORKLOAD_CPU = '1';
const LOADGEN_CPU = '0';
/** The agent judges a run's budget from 10 s after it started (services/agent job-runner). */
const AGENT_WARMUP_MS = 20_000;
/** Past the warm-up, two budget windows of 1 s: the overhead figure is then a judged one. */
const UP_SETTLE_MS = AGENT_WARMUP_MS + 2_000;
const NCPUS = cpus().length;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const BPFTRACE = `tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; }
tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @lat[pid, args->id] = hist(nsecs - @s[tid]); delete(@s[tid]); }`;
/** The collectors of up's default job with its parameters (apps/cli/src/commands/up.ts). */
const DEFAULT_JOB = [
  ['proc', []],
  ['syscalls', []],
  ['cpu_profile', ['--param', 'hz=19']],
  ['offcpu', ['--param', 'states=uninterruptible', '--param', 'min_block=1ms']],
  ['runqlat', []],
];
/** Goals of issue 8: the default job's throughput loss per workload, in %. */
const GOALS = { nginx: 1, forkexec: 2, pipe: 2 };
/** A mode that fails this many times is not tried again. */
const MAX_FAILURES = 2;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    settle: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '5' },
    'idle-seconds': { type: 'string', default: '60' },
    'idle-warmup': { type: 'string', default: '90' },
    workloads: { type: 'string', default: 'nginx,forkexec,pipe' },
    modes: { type: 'string' },
    'max-other-load': { type: 'string', default: '20%' },
    retries: { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const settleSeconds = Number(values.settle);
const idleSeconds = Number(values['idle-seconds']);
/**
 * Seconds between `up` being ready and the idle window: an embedded store
 * that just created its tables polls each of them for merges, backing off
 * over the first minute or two; what stays on is the steady state after it.
 */
const idleWarmupSeconds = Number(values['idle-warmup']);
const maxOther = Number(values['max-other-load'].replace(/%$/, '')) / 100;
/** A window in which other processes used more than maxOther is measured again this many times. */
const MAX_RETRIES = Number(values.retries);
if (
  !(
    rounds >= 1 &&
    seconds > 0 &&
    idleSeconds >= 0 &&
    idleWarmupSeconds >= 0 &&
    maxOther > 0 &&
    MAX_RETRIES >= 0
  )
)
  throw new Error(
    '--rounds must be >= 1, --seconds > 0, --idle-seconds >= 0, --idle-warmup >= 0, --max-other-load > 0%, --retries >= 0',
  );
const say = (m) => process.stderr.write(`always-on: ${m}\n`);
const began = Date.now();
const scratch = mkdtempSync(join(tmpdir(), 'fleettrace-bench-always-on-'));

// ---------------------------------------------------------------------------
// Child processes: each in its own process group, so cleanup on error or exit
// also reaches what it started (up's agent, nginx's worker, sh's children).

const children = new Set();

/** Spawns a tracked child in a new process group; keeps the tail of its output in `child.output`. */
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  child.output = '';
  const keep = (d) => {
    child.output += d;
    if (child.output.length > 256 * 1024) child.output = child.output.slice(-128 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((done) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      done({ code, signal });
    });
    child.on('error', (err) => {
      children.delete(child);
      child.spawnError = err;
      done({ code: null, signal: null, error: err });
    });
  });
  children.add(child);
  return child;
}

const alive = (child) => child.exitCode === null && child.signalCode === null && !child.spawnError;

const killGroup = (child, signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};

/** Sends `signal` to the child itself, waits for it (then SIGKILLs its whole group) and returns its output. */
async function stop(child, signal = 'SIGINT', timeoutMs = 30_000) {
  if (alive(child)) {
    child.kill(signal);
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    await child.exited;
    clearTimeout(timer);
  }
  // Whatever it left behind in its group (an agent whose parent was killed, say).
  killGroup(child, 'SIGKILL');
  return child.output;
}

/** Runs a tracked command to completion; resolves with its output, rejects on failure. */
async function runChild(cmd, args, opts) {
  const child = start(cmd, args, opts);
  const { code, signal, error } = await child.exited;
  if (error) throw new Error(`${cmd}: ${error.message}`);
  if (code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')}: exit ${code ?? signal}: ${child.output.slice(-500)}`,
    );
  return child.output;
}

let cleaning;
async function cleanup() {
  cleaning ??= Promise.all([...children].map((c) => stop(c, 'SIGINT', 15_000)));
  await cleaning;
}
process.on('exit', () => {
  for (const c of children) killGroup(c, 'SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.once(sig, () => {
    say(`${sig}: stopping every child process`);
    void cleanup().finally(() => process.exit(130));
  });

// ---------------------------------------------------------------------------
// Workloads.

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']))
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

async function ensurePackages() {
  if (which('nginx') && which('wrk')) return;
  say('installing nginx-light and wrk with apt-get');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runChild('apt-get', ['update', '-qq'], { env });
  await runChild(
    'apt-get',
    ['install', '-y', '-qq', '--no-install-recommends', 'nginx-light', 'wrk'],
    { env },
  );
}

/** A ~2.7 KB HTML page, the size of a small static asset. */
function page() {
  const lines = ['<!doctype html>', '<html><head><title>fleettrace bench</title></head><body>'];
  for (let i = 0; lines.join('\n').length < 2650; i++)
    lines.push(`<p>Paragraph ${i}: the quick brown fox jumps over the lazy dog.</p>`);
  lines.push('</body></html>');
  return lines.join('\n') + '\n';
}

async function startNginx() {
  const nginx = which('nginx');
  const dir = join(scratch, 'nginx');
  mkdirSync(join(dir, 'www'), { recursive: true });
  // The worker runs as nobody: it must be able to read the page.
  for (const d of [scratch, dir, join(dir, 'www')]) chmodSync(d, 0o755);
  writeFileSync(join(dir, 'www', 'index.html'), page());
  const port = await freePort();
  // Modules built in keep their temp paths under /var/lib/nginx unless told otherwise.
  const built = await runChild(nginx, ['-V']);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .filter(
      (m) =>
        m === 'client_body' ||
        (built.includes(`--http-${m}-temp-path`) && !built.includes(`--without-http_${m}_module`)),
    )
    .map((m) => `  ${m}_temp_path ${join(dir, `${m}_temp`)};`);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'worker_processes 1;',
      `worker_cpu_affinity ${(1 << Number(WORKLOAD_CPU)).toString(2)};`,
      'daemon off;',
      'master_process on;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      '  default_type text/html;',
      '  sendfile on;',
      '  keepalive_requests 1000000;',
      ...temps,
      `  server { listen 127.0.0.1:${port}; root ${join(dir, 'www')}; }`,
      '}',
      '',
    ].join('\n'),
  );
  const child = start('taskset', [
    '-c',
    WORKLOAD_CPU,
    nginx,
    '-p',
    dir,
    '-e',
    join(dir, 'error.log'),
    '-c',
    conf,
  ]);
  const url = `http://127.0.0.1:${port}/index.html`;
  for (let i = 0; ; i++) {
    if (!alive(child)) throw new Error(`nginx exited: ${child.output.slice(-500)}`);
    try {
      const res = await fetch(url);
      if (res.ok && (await res.text()).length > 2000) break;
    } catch {
      // not listening yet
    }
    if (i > 100) throw new Error('nginx did not answer within 10 s');
    await sleep(100);
  }
  return { child, url, port };
}

let nginx;
let forkexecCount;
let pingpong;

const workloads = {
  nginx: {
    unit: 'requests/s',
    async prepare() {
      await ensurePackages();
      nginx = await startNginx();
      say(`nginx on ${nginx.url}, worker on CPU ${WORKLOAD_CPU}; wrk on CPU ${LOADGEN_CPU}`);
      await this.measure(1); // warm-up, not recorded
    },
    async measure(s = seconds) {
      const out = await runChild('taskset', [
        '-c',
        LOADGEN_CPU,
        'wrk',
        '-t1',
        '-c32',
        `-d${s}s`,
        nginx.url,
      ]);
      const rate = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
      if (!(rate > 0)) throw new Error(`unexpected wrk output: ${out.slice(-300)}`);
      const bad = out.match(/Non-2xx or 3xx responses: (\d+)/);
      if (bad) throw new Error(`wrk: ${bad[1]} non-2xx responses`);
      const errors = out.match(/Socket errors: .*/);
      if (errors) say(`wrk: ${errors[0]}`);
      return rate;
    },
  },
  forkexec: {
    unit: 'processes/s',
    async prepare() {
      forkexecCount = 200;
      const rate = await this.measure();
      forkexecCount = Math.max(200, Math.round(rate * seconds));
      say(
        `fork/exec: ${forkexecCount} /bin/true per measurement (~${seconds} s), on CPU ${WORKLOAD_CPU}`,
      );
    },
    async measure() {
      const script = 'i=0; while [ $i -lt $1 ]; do /bin/true; i=$((i+1)); done';
      const t0 = process.hrtime.bigint();
      await runChild('taskset', [
        '-c',
        WORKLOAD_CPU,
        '/bin/sh',
        '-c',
        script,
        'sh',
        String(forkexecCount),
      ]);
      const ns = Number(process.hrtime.bigint() - t0);
      return forkexecCount / (ns / 1e9);
    },
  },
  pipe: {
    unit: 'round trips/s',
    async prepare() {
      pingpong = workload('pipe_pingpong');
      await this.measure(1);
      say(`pipe ping-pong: ${pingpong}, both processes on CPU ${WORKLOAD_CPU}`);
    },
    async measure(s = seconds) {
      const out = await runChild('taskset', ['-c', WORKLOAD_CPU, pingpong, String(s)]);
      const trips = Number(out.match(/^round_trips (\d+)$/m)?.[1]);
      const ns = Number(out.match(/^wall_ns (\d+)$/m)?.[1]);
      if (!(trips > 0 && ns > 0)) throw new Error(`unexpected pipe_pingpong output: ${out}`);
      return trips / (ns / 1e9);
    },
  },
};

// ---------------------------------------------------------------------------
// fleettrace up: its own data directory, config directory and loopback ports,
// so the user's ~/.config/fleettrace and a running `up` are left alone.

class Up {
  /** Starts `up`; a port taken between picking it and binding it (another process got it) means new ports. */
  static async start(extra = []) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Up.startOnce(extra);
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE/.test(err.message)) throw err;
        say(`up: a port was taken (${attempt}×), starting again on new ports`);
      }
    }
  }

  static async startOnce(extra) {
    const dir = mkdtempSync(join(scratch, 'up-'));
    const ports = [];
    for (let i = 0; i < 4; i++) ports.push(await freePort());
    const [api, enroll, control, bus] = ports.map((p) => `127.0.0.1:${p}`);
    const env = {
      ...process.env,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_DATA_HOME: join(dir, 'share'),
      XDG_CACHE_HOME: join(dir, 'cache'),
    };
    const child = start(
      FLEETTRACE,
      [
        'up',
        '--data',
        join(dir, 'data'),
        '--listen',
        api,
        '--enroll-listen',
        enroll,
        '--control-listen',
        control,
        '--bus-listen',
        bus,
        '--agent-metrics',
        `127.0.0.1:${await freePort()}`,
        ...extra,
      ],
      { env },
    );
    const up = new Up(child, dir, extra.includes('--no-default-job'));
    try {
      await up.ready();
    } catch (err) {
      await up.stop();
      throw err;
    }
    return up;
  }

  constructor(child, dir, noJob) {
    this.child = child;
    this.dir = dir;
    this.noJob = noJob;
  }

  /** The local config `up` writes (apps/cli/src/local-config.ts): server and admin token. */
  config() {
    try {
      const c = JSON.parse(readFileSync(join(this.dir, 'config/fleettrace/local.json'), 'utf8'));
      return c.pid === this.child.pid ? c : undefined;
    } catch {
      return undefined;
    }
  }

  async api(path) {
    const res = await fetch(`${this.server}${path}`, {
      headers: { authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }

  async poll(what, ms, check) {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!alive(this.child)) throw new Error(`up exited while ${what}: ${this.log()}`);
      let got;
      try {
        got = await check();
      } catch {
        // not answering yet
      }
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`up: timed out ${what}: ${this.log()}`);
      await sleep(250);
    }
  }

  log() {
    const agentLog = join(this.dir, 'data/agent.log');
    const agent = existsSync(agentLog) ? readFileSync(agentLog, 'utf8').slice(-800) : '';
    return `${this.child.output.slice(-800)}${agent ? `\nagent.log: ${agent}` : ''}`;
  }

  /** Waits for the API, the agent's connection and (with the job) its run to be running and past warm-up. */
  async ready() {
    const t0 = Date.now();
    const c = await this.poll('writing its local config', 60_000, () => this.config());
    this.server = c.server;
    this.token = c.token;
    await this.poll('waiting for the agent', 60_000, async () => {
      const { agents } = await this.api('/api/v1/agents');
      return agents.find((a) => a.state === 'connected');
    });
    if (this.noJob) {
      // No run to wait for: give start-up (the store, the agent's first probes) the same time.
      await sleep(UP_SETTLE_MS);
    } else {
      this.jobId = await this.poll('creating the default job', 60_000, async () => {
        const { jobs } = await this.api('/api/v1/jobs');
        return jobs.find((j) => j.state === 'running')?.id;
      });
      await this.poll("waiting for the default job's run to be running", 60_000, async () => {
        const run = await this.run();
        if (run && run.state !== 'pending' && run.state !== 'running')
          throw new Error(`run ${run.state}: ${run.reason}`);
        return run?.state === 'running';
      });
      await sleep(UP_SETTLE_MS);
    }
    say(
      `up${this.noJob ? ' --no-default-job' : ''} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }

  async run() {
    const job = await this.api(`/api/v1/jobs/${this.jobId}`);
    return job.runs?.[0];
  }

  async agent() {
    const { agents } = await this.api('/api/v1/agents');
    return agents[0];
  }

  /** Reads the job's run (or, with no job, the agent's heartbeat) every second until stopped. */
  sampler() {
    const samples = [];
    let first;
    let last;
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          if (this.noJob) {
            const a = await this.agent();
            samples.push(a.overhead_share);
          } else {
            last = await this.run();
            first ??= last;
            samples.push(last.overhead_share);
          }
        } catch (err) {
          say(`reading the job status: ${err.message}`);
        }
        await sleep(1000);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        if (!this.noJob) last = (await this.run().catch(() => undefined)) ?? last;
        return { samples, first, run: last };
      },
    };
  }

  async stop() {
    await stop(this.child, 'SIGINT', 30_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// `fleettrace trace <collector>` and bpftrace.

/** How many BPF links the process holds (anon_inode:bpf_link entries in /proc/<pid>/fd). */
function bpfLinks(pid) {
  const fdDir = `/proc/${pid}/fd`;
  let fds;
  try {
    fds = readdirSync(fdDir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(join(fdDir, fd)) === 'anon_inode:bpf_link') n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Starts `fleettrace trace`, resolves once its BPF links are attached and their count is steady. */
async function startTrace(name, params) {
  const child = start(FLEETTRACE, ['trace', name, '--duration', '24h', ...params]);
  const deadline = Date.now() + 30_000;
  let links = 0;
  let steadySince = 0;
  for (;;) {
    if (!alive(child)) throw new Error(`trace ${name} exited: ${child.output.slice(-500)}`);
    const n = bpfLinks(child.pid);
    if (n > 0 && n === links) {
      if (Date.now() - steadySince >= 500) break;
    } else {
      links = n;
      steadySince = Date.now();
    }
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error(`trace ${name}: not attached after 30 s`);
    }
    await sleep(100);
  }
  await sleep(500);
  return child;
}

const NS = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };
/** Stops a trace and parses its footer: "traced 2.9s ... kernel-side cost: 14.0ms over 51887 program runs (269ns each)". */
async function stopTrace(child) {
  const out = await stop(child, 'SIGINT', 30_000);
  const m = out.match(
    /traced ([\d.]+)s .*kernel-side cost: ([\d.]+)(ns|us|µs|ms|s) over (\d+) program runs \(([^)]*) each\)(.*)/,
  );
  if (!m) return { line: undefined };
  const tracedS = Number(m[1]);
  const costNs = Number(m[2]) * NS[m[3]];
  return {
    // The rest of the line says how the figure was obtained (sampled statistics, ...).
    line: `${m[2]}${m[3]} over ${m[4]} program runs (${m[5]} each)${m[6].trimEnd()}, in ${m[1]} s`,
    share: costNs / (tracedS * 1e9 * NCPUS),
  };
}

async function startBpftrace() {
  const child = start('bpftrace', ['-e', BPFTRACE]);
  const deadline = Date.now() + 60_000;
  while (!/Attaching \d+ probe/.test(child.output)) {
    if (!alive(child)) throw new Error(`bpftrace exited: ${child.output.slice(-500)}`);
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error('bpftrace: not attached after 60 s');
    }
    await sleep(100);
  }
  await sleep(500);
  return child;
}

// ---------------------------------------------------------------------------
// Modes. Each either attaches once for all workloads of a round (`start`/`stop`),
// once per measurement (`perWorkload`), or afresh for each workload and its
// settling (`freshPerWorkload`).

const modes = {
  baseline: { label: 'baseline', start: async () => null, stop: async () => null },
  up: {
    label: 'up',
    // A run the agent throttled under one workload stays throttled: started
    // afresh for each workload, it is judged on that workload alone.
    freshPerWorkload: true,
    start: () => Up.start(),
    stop: (up) => up.stop(),
    sampler: (up) => up.sampler(),
  },
  ...Object.fromEntries(
    DEFAULT_JOB.map(([name, params]) => [
      name,
      {
        label: `trace ${name}${params.length ? ` ${params.filter((p) => p !== '--param').join(' ')}` : ''}`,
        perWorkload: true,
        start: () => startTrace(name, params),
        stop: stopTrace,
      },
    ]),
  ),
  'no-default-job': {
    label: 'up --no-default-job',
    start: () => Up.start(['--no-default-job']),
    stop: (up) => up.stop(),
    sampler: (up) => up.sampler(),
  },
  bpftrace: {
    label: 'bpftrace',
    start: startBpftrace,
    stop: (child) => stop(child, 'SIGINT', 60_000),
  },
};

const chosenWorkloads = values.workloads
  .split(',')
  .map((w) => w.trim())
  .filter(Boolean);
for (const w of chosenWorkloads)
  if (!workloads[w])
    throw new Error(`unknown workload ${w}: choose from ${Object.keys(workloads).join(', ')}`);
const chosenModes = values.modes
  ? values.modes.split(',').map((m) => m.trim())
  : Object.keys(modes);
for (const m of chosenModes)
  if (!modes[m]) throw new Error(`unknown mode ${m}: choose from ${Object.keys(modes).join(', ')}`);
if (!chosenModes.includes('baseline')) chosenModes.unshift('baseline');

// results[workload][mode] = [{ value, figure }]
const results = Object.fromEntries(
  chosenWorkloads.map((w) => [w, Object.fromEntries(chosenModes.map((m) => [m, []]))]),
);
const failures = Object.fromEntries(chosenModes.map((m) => [m, []]));
const idle = [];
let activityBefore;
let activityAfter;
let versions = '';

/** Measures one workload under an attached mode, with the mode's own figure over the same window. */
async function measureOne(mode, ctx, w) {
  const sampler = modes[mode].sampler?.(ctx);
  let value;
  let other;
  let steal;
  try {
    const before = { ...hostTicks(), ours: benchTicks(), at: process.hrtime.bigint() };
    value = await workloads[w].measure();
    const wallS = Number(process.hrtime.bigint() - before.at) / 1e9;
    const after = hostTicks();
    other = (after.busy - before.busy - (benchTicks() - before.ours)) / CLK_TCK / wallS;
    steal = (after.steal - before.steal) / CLK_TCK / wallS;
  } catch (err) {
    await sampler?.stop();
    throw err;
  }
  const status = sampler ? await sampler.stop() : undefined;
  return { value, other, steal, status };
}

/**
 * Clock ticks of all CPUs from /proc/stat (proc_stat(5)): busy (user, nice, system,
 * irq, softirq) and steal (time the hypervisor gave this VM's CPUs to someone else).
 */
function hostTicks() {
  const f = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], steal: f[7] ?? 0 };
}

/**
 * CPU time (clock ticks) of this process and every descendant, with the children
 * they have waited for: a process that exits within a window is counted in its
 * parent's cutime/cstime once reaped, so nothing of ours is missed.
 */
function benchTicks() {
  let sum = 0;
  for (const pid of processTree(process.pid)) {
    const st = procStat(pid);
    if (st) sum += st.ticks + st.childTicks;
  }
  return sum;
}

function describeStatus(status) {
  if (!status) return {};
  const { samples, first, run } = status;
  const share = samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : NaN;
  if (!run) return { share };
  const known = new Set([
    'id',
    'agent_id',
    'host',
    'weight',
    'dispatched',
    'acked',
    'ended',
    'ack_latency_ms',
    'events_sent',
    'events_acked',
    'events_lost',
    'overhead_share',
    'state',
    'reason',
  ]);
  // Whatever else the run carries (a duty cycle, a fraction, ...), printed as it is.
  const extra = Object.entries(run).filter(([k]) => !known.has(k));
  const was = first && first.state !== run.state ? `${first.state} → ` : '';
  const reason =
    (run.reason ?? '') +
    (extra.length ? ` (${extra.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')})` : '');
  return {
    share,
    runState: `${was}${run.state}`,
    state: `${was}${run.state}${reason ? `: ${reason}` : ''}`,
    // Running from the first read to the last: the job's collectors were attached
    // (all of the time, or duty-cycled: the reason says) throughout the window.
    attached: (first ?? run).state === 'running' && run.state === 'running',
    lost: run.events_lost,
  };
}

const pct = (share, digits = 2) =>
  Number.isFinite(share) ? `${(share * 100).toFixed(digits)}%` : 'n/a';

async function rounds_() {
  for (let r = 1; r <= rounds; r++) {
    for (const mode of shuffle(chosenModes)) {
      if (failures[mode].length >= MAX_FAILURES) continue;
      const m = modes[mode];
      let ctx;
      try {
        if (!m.perWorkload && !m.freshPerWorkload) ctx = await m.start();
        for (const w of shuffle(chosenWorkloads)) {
          if (m.freshPerWorkload) {
            if (ctx !== undefined) await m.stop(ctx);
            ctx = undefined;
            ctx = await m.start();
          }
          if (mode === 'up' && settleSeconds > 0) {
            // A real server's load is continuous: let the agent fit its budget to this
            // load (first verdict after the warm-up, then one fraction per ~10 s) before measuring.
            const until = Date.now() + settleSeconds * 1000;
            while (Date.now() < until) await workloads[w].measure(Math.min(5, settleSeconds));
          }
          for (let attempt = 1; ; attempt++) {
            if (m.perWorkload) ctx = await m.start();
            const { value, other, steal, status } = await measureOne(mode, ctx, w);
            let figure = describeStatus(status);
            if (m.perWorkload) {
              const c = ctx;
              ctx = undefined;
              figure = await m.stop(c);
            }
            const busy = other > maxOther;
            say(
              `round ${r}/${rounds} ${m.label} ${w}: ${value.toFixed(0)} ${workloads[w].unit}` +
                `, other load ${pct(other, 0)} of a CPU (steal ${pct(steal, 0)})` +
                (figure.share !== undefined ? `, reported ${pct(figure.share, 3)}` : '') +
                (figure.state ? ` [${figure.state}]` : '') +
                (figure.line ? ` [kernel-side cost ${figure.line}]` : '') +
                (busy && attempt <= MAX_RETRIES ? '; the host was busy: measuring again' : ''),
            );
            if (!busy || attempt > MAX_RETRIES) {
              results[w][mode].push({ value, figure, other, steal, busy, attempt, round: r });
              break;
            }
            await sleep(2000);
          }
        }
      } catch (err) {
        failures[mode].push(err.message.split('\n')[0]);
        say(`round ${r} ${m.label}: failed: ${err.message.slice(0, 1500)}`);
      } finally {
        if (ctx !== undefined && ctx !== null)
          await m.stop(ctx).catch((e) => say(`stopping ${m.label}: ${e.message}`));
      }
    }
  }
}

/**
 * CPU time of `up` and every descendant over --idle-seconds, sampled every
 * second: utime + stime per process, and apart the children each has waited for
 * (cutime + cstime), so short-lived helpers are not missed.
 */
async function idleCost(extra) {
  const label = `up${extra.length ? ` ${extra.join(' ')}` : ''}`;
  say(`idle: starting ${label}`);
  const up = await Up.start(extra);
  try {
    // Up.start waited for the run past the agent's warm-up; then the store settles (see --idle-warmup).
    await sleep(Math.max(0, idleWarmupSeconds * 1000 - UP_SETTLE_MS));
    const procs = new Map(); // pid -> { comm, cmd, first, last, firstChildren, lastChildren }
    const sample = (atStart) => {
      for (const pid of processTree(up.child.pid)) {
        const st = procStat(pid);
        if (!st) continue;
        let p = procs.get(pid);
        if (!p) {
          const cmd = commandLine(pid);
          // A process born during the window: all its CPU time is in the window.
          p = {
            comm: st.comm,
            cmd,
            first: atStart ? st.ticks : 0,
            firstChildren: atStart ? st.childTicks : 0,
            threads: new Map(), // tid -> { comm, first, last }
          };
          procs.set(pid, p);
        }
        p.last = st.ticks;
        p.lastChildren = st.childTicks;
        let tids = [];
        try {
          tids = readdirSync(`/proc/${pid}/task`);
        } catch {
          // gone meanwhile
        }
        for (const tid of tids) {
          const ts = procStat(pid, tid);
          if (!ts) continue;
          const t = p.threads.get(tid) ?? { comm: ts.comm, first: atStart ? ts.ticks : 0 };
          t.last = ts.ticks;
          p.threads.set(tid, t);
        }
      }
    };
    // Threads by name (node's main thread carries the process's name; libuv and V8
    // workers, chDB's pools have their own), busiest first.
    const threadsOf = (p) => {
      const byName = new Map();
      for (const t of p.threads.values()) {
        const g = byName.get(t.comm) ?? { n: 0, ticks: 0 };
        g.n++;
        g.ticks += t.last - t.first;
        byName.set(t.comm, g);
      }
      return [...byName.entries()]
        .filter(([, g]) => g.ticks > 0)
        .sort((a, b) => b[1].ticks - a[1].ticks)
        .slice(0, 6)
        .map(([name, g]) => `${name}${g.n > 1 ? ` ×${g.n}` : ''} ${pct(share(g.ticks), 3)}`)
        .join(', ');
    };
    // No status requests during the window: each is work for `up` that an idle host would not do.
    const t0 = process.hrtime.bigint();
    sample(true);
    say(`idle: measuring ${label} for ${idleSeconds} s`);
    for (let i = 0; i < idleSeconds; i++) {
      await sleep(1000);
      sample(false);
    }
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const last = await (up.noJob ? up.agent() : up.run()).catch(() => undefined);
    const status = describeStatus(
      last && { samples: [last.overhead_share], first: last, run: up.noJob ? undefined : last },
    );
    const share = (ticks) => ticks / CLK_TCK / wallS;
    const rows = [...procs.entries()].map(([pid, p]) => ({
      pid,
      comm: p.comm,
      cmd: p.cmd.replaceAll(ROOT, '.').replaceAll(up.dir, '$TMP').slice(0, 120),
      share: share(p.last - p.first),
      children: share(p.lastChildren - p.firstChildren),
      threads: threadsOf(p),
    }));
    const total = rows.reduce((a, x) => a + x.share + x.children, 0);
    idle.push({ label, rows, total, wallS, status });
    say(
      `idle: ${label}: ${pct(total, 3)} of one CPU (${rows.map((x) => `${x.pid} ${x.comm} ${pct(x.share, 3)}`).join(', ')})`,
    );
  } finally {
    await up.stop();
  }
}

/** A process's command line, arguments separated by spaces ('' once it is gone). */
function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** Who holds each loaded ft_ program: pid and comm of every process with a bpf-prog or bpf_link fd to it. */
async function programOwners() {
  let progs;
  try {
    progs = JSON.parse(await runChild('bpftool', ['-j', 'prog', 'show'])).filter((x) =>
      (x.name ?? '').startsWith('ft_'),
    );
  } catch {
    return undefined;
  }
  const owners = new Map(progs.map((x) => [x.id, new Set()]));
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fds;
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const link = readlinkSync(`/proc/${name}/fd/${fd}`);
        if (link !== 'anon_inode:bpf-prog' && link !== 'anon_inode:bpf_link') continue;
        const id = Number(
          readFileSync(`/proc/${name}/fdinfo/${fd}`, 'utf8').match(/prog_id:\s*(\d+)/)?.[1],
        );
        owners.get(id)?.add(`pid ${name} \`${commandLine(name).slice(0, 100)}\``);
      } catch {
        // closed meanwhile
      }
    }
  }
  return progs.map(
    (x) =>
      `${x.name} (id ${x.id}, held by ${[...owners.get(x.id)].join(', ') || 'no process: pinned, attached by link, or being freed'})`,
  );
}

// ---------------------------------------------------------------------------

try {
  activityBefore = await hostActivity();
  // The first line of a command's output, whatever its exit code (`wrk --version` exits 1).
  const v = async (cmd, args) => {
    const child = start(cmd, args);
    await child.exited;
    return child.output.trim().split('\n')[0];
  };
  for (const w of chosenWorkloads) await workloads[w].prepare();
  versions = [
    chosenWorkloads.includes('nginx') ? await v(which('nginx'), ['-v']) : '',
    chosenWorkloads.includes('nginx') ? await v('wrk', ['--version']) : '',
    await v('bpftrace', ['--version']),
    `fleettrace at ${await v('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])} (work tree: ${
      (await v('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']))
        ? 'with uncommitted changes'
        : 'clean'
    })`,
  ]
    .filter(Boolean)
    .join('; ');
  say(versions);
  await rounds_();
  if (nginx) {
    await stop(nginx.child, 'SIGQUIT', 10_000);
    nginx = { ...nginx, stopped: true };
  }
  if (idleSeconds > 0) {
    try {
      await idleCost([]);
      await idleCost(['--no-default-job']);
    } catch (err) {
      say(`idle cost: failed: ${err.message.slice(0, 1500)}`);
      idle.push({ error: err.message.split('\n')[0] });
    }
  }
} finally {
  await cleanup();
}

// The kernel frees a closed program from a worker: give it a moment before judging.
let left = await fleettracePrograms();
if (left?.length) {
  await sleep(3000);
  left = await programOwners();
}
activityAfter = await hostActivity();
const leftWarning =
  left === undefined
    ? 'could not list BPF programs (bpftool failed)'
    : left.length
      ? `WARNING: ${left.length} ft_ BPF programs still loaded after the benchmark: ${left.join('; ')}. ` +
        'Every process this benchmark started has exited: the holders listed are another user of this machine, or the programs are still being freed.'
      : 'no ft_ BPF programs left loaded after the benchmark';
say(leftWarning);

// ---------------------------------------------------------------------------
// Report.

const fmt = (x) => (x >= 1000 ? x.toFixed(0) : x.toFixed(1));
const spread = (xs) => (xs.length ? (Math.max(...xs) - Math.min(...xs)) / median(xs) : NaN);
const lossOf = (w, mode) => {
  const base = median(results[w].baseline.map((x) => x.value));
  const xs = results[w][mode].map((x) => x.value);
  return xs.length ? (base - median(xs)) / base : NaN;
};
const sharesOf = (list) => list.map((x) => x.figure.share).filter(Number.isFinite);
const figureCell = (mode, list) => {
  if (mode === 'baseline' || mode === 'bpftrace') return '—';
  const shares = sharesOf(list);
  if (!shares.length) return '—';
  const rounds = shares.map((x) => pct(x, 3)).join(' / ');
  if (modes[mode].perWorkload)
    return `${pct(median(shares), 3)} of host CPU (kernel-side cost; rounds ${rounds}; last: ${list.at(-1).figure.line})`;
  const states = list.map((x) => x.figure.runState).filter(Boolean);
  const lost = list.map((x) => x.figure.lost).filter((x) => x !== undefined);
  const what =
    mode === 'no-default-job'
      ? 'the agent heartbeat overhead, no job'
      : "the run's overhead_share over the window";
  return (
    `${pct(median(shares), 3)} (${what}; rounds ${rounds})` +
    (states.length ? `; run per round: ${states.join(' / ')} (reasons below)` : '') +
    (lost.length ? `; events lost ${Math.max(...lost)}` : '')
  );
};

/** The default job's run status at the end of each `up` window, reason included, as a list. */
const runReasons = (w) => {
  const list = results[w].up ?? [];
  if (!list.some((x) => x.figure.state)) return '';
  return (
    `\`up\`: the default job's run at the end of each window:\n\n` +
    list.map((x) => `- round ${x.round}: ${x.figure.state ?? 'unknown'}`).join('\n') +
    '\n\n'
  );
};

const sections = [];
const verdicts = [];
for (const w of chosenWorkloads) {
  const unit = workloads[w].unit;
  const baseValues = results[w].baseline.map((x) => x.value);
  const noise = spread(baseValues);
  const rows = chosenModes.map((mode) => {
    const { label } = modes[mode];
    const list = results[w][mode];
    const why = failures[mode].length
      ? ` (failed ${failures[mode].length}×: ${failures[mode][0].replaceAll('|', '\\|')})`
      : '';
    if (!list.length) return `| ${label} | n/a | n/a | —${why} | — | — |`;
    const loss = mode === 'baseline' ? '—' : pct(lossOf(w, mode));
    return (
      `| ${label} | ${fmt(median(list.map((x) => x.value)))} | ${loss} | ` +
      `${list.map((x) => `${fmt(x.value)}${x.busy ? '*' : ''}`).join(' / ')}${why} | ${figureCell(mode, list).replaceAll('|', '\\|')} | ` +
      `${list.map((x) => `${pct(x.other, 0)} (${pct(x.steal, 0)})`).join(' / ')} |`
    );
  });
  const table = [
    `| mode | ${unit} (median) | loss vs baseline median | rounds' values | agent-reported overhead | other load (steal), % of a CPU per round |`,
    '|---|---:|---:|---|---|---|',
    ...rows,
  ].join('\n');
  sections.push(
    `### ${w} (${unit})\n\n${table}\n\n${runReasons(w)}Noise floor: the baseline's spread (max − min over median) is ${pct(noise)} over ${baseValues.length} rounds.` +
      (Object.values(results[w]).some((l) => l.some((x) => x.busy))
        ? ` \\* other processes used more than ${pct(maxOther, 0)} of a CPU during that window in all ${MAX_RETRIES + 1} attempts.`
        : ''),
  );
  if (GOALS[w] === undefined) continue;
  if (!results[w].up?.length) {
    verdicts.push(
      `- ${w}: default job (\`up\`): no measurement${failures.up?.length ? ` (${failures.up[0]})` : ''}`,
    );
    continue;
  }
  const base = median(results[w].baseline.map((x) => x.value));
  const judge = (list) => {
    const loss = (base - median(list.map((x) => x.value))) / base;
    const shares = sharesOf(list);
    const agent = shares.length ? median(shares) : NaN;
    const ratio = loss > 0 ? `${(agent / loss).toFixed(2)}×` : 'n/a (no measured loss)';
    return `loss **${pct(loss)}** (goal ≤ ${GOALS[w]}%: ${loss * 100 <= GOALS[w] ? 'met' : 'NOT met'}${
      Math.abs(loss) <= noise ? ', within the noise floor' : ''
    }); noise floor ${pct(noise)}; agent-reported ${pct(agent, 3)}; agent figure / measured loss = ${ratio}`;
  };
  const all = results[w].up;
  const attached = all.filter((x) => x.figure.attached);
  verdicts.push(
    `- ${w}: default job (\`up\`), all ${all.length} rounds: ${judge(all)}` +
      (attached.length === all.length
        ? '; its run was running throughout every window'
        : `; **its run was running throughout only ${attached.length} of ${all.length} windows** ` +
          '(throttled or ended in the others: nothing of the job attached, so those rounds do not measure its cost)' +
          (attached.length ? `; those ${attached.length} rounds alone: ${judge(attached)}` : '')),
  );
}

let idleText = '';
if (idleSeconds > 0) {
  const parts = idle.map((r) => {
    if (r.error) return `idle cost: failed: ${r.error}`;
    const table = [
      '| pid | comm | command | % of one CPU | reaped children | busiest threads |',
      '|---:|---|---|---:|---:|---|',
      ...r.rows
        .sort((a, b) => b.share - a.share)
        .map(
          (x) =>
            `| ${x.pid} | ${x.comm} | \`${x.cmd}\` | ${pct(x.share, 3)} | ${x.children ? pct(x.children, 3) : '—'} | ${x.threads || '—'} |`,
        ),
    ].join('\n');
    const ok = r.total <= 0.002;
    const job =
      r.status?.share !== undefined
        ? `; the agent reported ${pct(r.status.share, 3)} of host CPU${r.status.state ? ` (run ${r.status.state})` : ' (heartbeat)'}`
        : '';
    return `\`${r.label}\`: **${pct(r.total, 3)}** of one CPU over ${r.wallS.toFixed(0)} s (goal ≤ 0.2%: ${ok ? 'met' : 'NOT met'})${job}\n\n${table}`;
  });
  idleText =
    `### idle cost\n\nutime + stime (/proc/<pid>/stat fields 14 and 15, ${CLK_TCK} ticks/s) of \`up\` and every descendant, ` +
    `sampled every second for ${idleSeconds} s with nothing else of this benchmark running, ${idleWarmupSeconds} s after \`up\` was ready ` +
    `(--idle-warmup: the job's run past its warm-up, the store's merge polling of its new tables backed off), ` +
    `with no API request during the window (the agent's figure is read once, after it):\n\n${parts.join('\n\n')}`;
}

const minutes = ((Date.now() - began) / 60_000).toFixed(1);
const report = [
  ...sections,
  `### verdict\n\n${verdicts.join('\n')}`,
  ...(idleText ? [idleText] : []),
  leftWarning,
].join('\n\n');
console.log(report);

const command = `node bench/always-on/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
recordSection(
  'always-on',
  `Command: \`${command}\` (as root, after \`pnpm build\`). Took ${minutes} min.\n\n` +
    `Machine: ${machine()}. Date: ${new Date().toISOString()}. ${versions}.\n` +
    `Host activity before: ${activityBefore}; after: ${activityAfter}.\n\n` +
    `What fleettrace's always-on default job costs software nobody here wrote, as that software's own throughput. ` +
    `Modes are interleaved in shuffled order over ${rounds} rounds, workloads shuffled within each mode; ` +
    `each measurement lasts ${seconds} s. nginx: our own instance (one worker, \`worker_cpu_affinity\` and taskset on CPU ${WORKLOAD_CPU}, ` +
    `127.0.0.1, a ${page().length}-byte static file, access_log off) driven by \`wrk -t1 -c32\` on CPU ${LOADGEN_CPU}. ` +
    `fork/exec: a dash loop of \`/bin/true\` on CPU ${WORKLOAD_CPU}, timed around. pipe: \`pipe_pingpong\` ` +
    `(packages/testing/workloads), two processes passing one byte over a pipe pair, both on CPU ${WORKLOAD_CPU}. ` +
    `fleettrace and bpftrace are not pinned. \`up\` runs with its own data, config and loopback ports, is started afresh for each workload of a round (a run throttled under one workload stays throttled) ` +
    `and measured once its job's run is running and ${UP_SETTLE_MS / 1000} s past the start (the agent's warm-up is ${AGENT_WARMUP_MS / 1000} s)` +
    (settleSeconds > 0
      ? `, each workload after ${settleSeconds} s of that same load unrecorded (--settle), so the agent has fitted its budget to it; `
      : '; ') +
    `its figure is the mean of the run's \`overhead_share\` (a share of all ${NCPUS} CPUs, from the controller's ` +
    `\`GET /api/v1/jobs/<id>\`) read every second of the window. \`trace <collector>\` is one process per measurement with ` +
    `the default job's parameters; its figure is its kernel-side cost over its traced time (attach included), as a share of all CPUs. ` +
    `bpftrace: the one-liner of bench/syscall-overhead. Loss = (baseline median − mode median) / baseline median. ` +
    `"Other load" is the CPU time of everything but this benchmark and its descendants during the window ` +
    `(busy ticks of /proc/stat minus our processes' utime + stime + cutime + cstime, kernel threads included; ±2% is tick rounding); ` +
    `a window with more than ${pct(maxOther, 0)} is measured again, up to ${MAX_RETRIES} times. "Steal" is /proc/stat's steal ` +
    `time over the window: the hypervisor running someone else on this VM's CPUs, which no retry here can see coming.\n\n${report}\n`,
);
