// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the benchmarks: child processes, statistics, RESULTS.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';

export const RESULTS = join(import.meta.dirname, 'RESULTS.md');

/** Runs a command to completion; resolves with its stdout, rejects on a non-zero exit. */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}: ${err.slice(-500)}`)),
    );
  });
}

/** Starts a long-running tracer and resolves once `ready` matches its output. */
export function startTracer(cmd, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const onData = (d) => {
      text += d;
      if (ready.test(text)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) =>
      reject(new Error(`${cmd} exited (${code}) before ready: ${text.slice(-500)}`)),
    );
  });
}

export function stopTracer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

/**
 * Restricts every thread of process `pid` (default: this one) to the CPUs in `list`
 * ("0", "1-3"), as `taskset -a -c -p` does. Threads and children started later inherit it.
 */
export function pinProcess(list, pid = process.pid) {
  return run('taskset', ['-a', '-c', '-p', list, String(pid)]);
}

/** The smallest power of two that is >= n (n >= 1). */
export const nextPowerOfTwo = (n) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function shuffle(xs) {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export function machine() {
  return `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Linux ${release()}`;
}

/** Names of the loaded BPF programs that start with ft_, or undefined when bpftool fails. */
export async function fleettracePrograms() {
  try {
    return JSON.parse(await run('bpftool', ['-j', 'prog', 'show']))
      .map((p) => p.name ?? '')
      .filter((n) => n.startsWith('ft_'));
  } catch {
    return undefined;
  }
}

/**
 * What else is running, for the record (benchmarks share the machine with tests
 * and other work): the 1-minute load average and the fleettrace BPF programs
 * loaded, by name. The kernel frees a closed program's memory from a worker, so a
 * benchmark's own programs can still be listed for a moment after close: a
 * non-empty list is read again 2 s later.
 */
export async function hostActivity() {
  let programs = await fleettracePrograms();
  if (programs?.length) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    programs = await fleettracePrograms();
  }
  const list = programs === undefined ? 'unknown' : programs.join(', ') || 'none';
  return `load average ${loadavg()[0].toFixed(2)}, fleettrace BPF programs loaded: ${list}`;
}

/** Replaces the section headed `## title` in RESULTS.md (or appends it). */
export function recordSection(title, body) {
  const head =
    '# Benchmark results\n\nEach section is replaced by the latest run of its benchmark.\n';
  let text = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : head;
  const section = `## ${title}\n\n${body.trim()}\n`;
  const re = new RegExp(
    `## ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n[\\s\\S]*?(?=\\n## |$)`,
  );
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}`;
  writeFileSync(RESULTS, text.trimEnd() + '\n');
}

/** A TCP port on `host` that was free a moment ago (bound to port 0, then released). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * pid, ppid, comm, utime + stime (`ticks`) and cutime + cstime (`childTicks`: its
 * children it has waited for) of one process, in clock ticks, from /proc/<pid>/stat;
 * undefined once it is gone. With `tid`, the same of that one thread
 * (/proc/<pid>/task/<tid>/stat).
 */
export function procStat(pid, tid) {
  let text;
  try {
    text = readFileSync(
      tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`,
      'utf8',
    );
  } catch {
    return undefined;
  }
  // proc_pid_stat(5): comm is in parentheses and may contain spaces and ')', so split after the last ')'.
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' '); // rest[0] is field 3 (state)
  return {
    pid,
    comm: text.slice(text.indexOf('(') + 1, close),
    ppid: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]), // fields 14 (utime) and 15 (stime)
    childTicks: Number(rest[13]) + Number(rest[14]), // fields 16 (cutime) and 17 (cstime)
  };
}

/**
 * VmRSS, VmHWM (`peak`), RssAnon and RssFile of `pid` in bytes, from /proc/<pid>/status;
 * undefined once it is gone.
 */
export function memoryStatus(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/**
 * The fleettrace command a process runs (`up`, `agent`, ...: the argument after
 * .../main.js, whatever node flags come before it), '' for another process or one gone.
 */
export function fleettraceCommand(pid) {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const main = argv.findIndex((a) => a.endsWith('main.js'));
    return main > 0 ? (argv[main + 1] ?? '') : '';
  } catch {
    return '';
  }
}

/** `root` and every live descendant of it, from the parent pids in /proc. */
export function processTree(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (!s) continue;
    if (!children.has(s.ppid)) children.set(s.ppid, []);
    children.get(s.ppid).push(s.pid);
  }
  const out = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop();
    if (pid === root && !existsSync(`/proc/${root}`)) continue;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `fleettrace up` (with `extra` flags) on free loopback ports in a fresh
 * data directory and resolves once it printed that it is up. The result has
 * `api(path, body?)` (the REST API with the admin token; a body makes it a
 * POST), `query(sql)` (rows as objects), `output()` and `stop()` (SIGINT,
 * SIGKILL after 30 s, then the directory is removed).
 */
export async function startUp(extra = [], { timeoutMs = 120_000 } = {}) {
  const cli = join(import.meta.dirname, '..', 'apps/cli/dist/src/main.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-bench-up-'));
  const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
  const child = spawn(
    process.execPath,
    [
      cli,
      'up',
      '--data',
      join(dir, 'data'),
      '--listen',
      `127.0.0.1:${ports[0]}`,
      '--enroll-listen',
      `127.0.0.1:${ports[1]}`,
      '--control-listen',
      `127.0.0.1:${ports[2]}`,
      '--bus-listen',
      `127.0.0.1:${ports[3]}`,
      '--agent-metrics',
      `127.0.0.1:${ports[4]}`,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir } },
  );
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.stderr.on('data', (d) => (text += d));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  const t0 = Date.now();
  while (!/fleettrace is up/.test(text)) {
    if (child.exitCode !== null || Date.now() - t0 > timeoutMs) {
      await stop();
      throw new Error(`up ${extra.join(' ')} did not start:\n${text.slice(-2000)}`);
    }
    await sleepMs(200);
  }
  const url = `http://127.0.0.1:${ports[0]}`;
  const token = readFileSync(join(dir, 'data', 'controller', 'admin-token'), 'utf8').trim();
  /* global fetch */
  const api = async (path, body) => {
    const r = await fetch(`${url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await r.text();
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}: ${answer.slice(0, 500)}`);
    return JSON.parse(answer);
  };
  const query = async (sql) => {
    const a = await api('/api/v1/query', { sql });
    const names = a.columns.map((c) => c.name ?? c);
    return a.rows.map((r) =>
      Array.isArray(r) ? Object.fromEntries(names.map((n, i) => [n, r[i]])) : r,
    );
  };
  /** The agent's /metrics as { 'name{labels}': value }. */
  const agentMetrics = async () => {
    const secret = readFileSync(join(dir, 'data', 'agent', 'metrics-token'), 'utf8').trim();
    const r = await fetch(`http://127.0.0.1:${ports[4]}/metrics`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    if (!r.ok) throw new Error(`agent /metrics: HTTP ${r.status}`);
    const out = {};
    for (const line of (await r.text()).split('\n')) {
      const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  };
  return { child, dir, url, token, api, query, agentMetrics, stop, output: () => text };
}

/**
 * A controller and N simulated agents on loopback, each part a `fleettrace`
 * process (quiet logs): the controller (with `controllerArgs` added), a
 * bootstrap token for the agents, `processes` agent processes sharing them,
 * and a wait until every agent is connected. Returns the addresses, the admin
 * token, an API client, `connectMs` (agents started to all connected) and
 * `close()`, which stops every process and removes the directories.
 */
export async function simulatedFleet({ agents, processes, controllerArgs = [], name = 'bench' }) {
  const cli = join(import.meta.dirname, '../bin/fleettrace');
  const env = { ...process.env, FLEETTRACE_LOG_LEVEL: 'warn' };
  const children = [];
  const data = mkdtempSync(join(tmpdir(), `fleettrace-${name}-controller-`));
  const state = mkdtempSync(join(tmpdir(), `fleettrace-${name}-agents-`));
  const start = (args, ready) =>
    new Promise((resolve, reject) => {
      const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
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
  const close = async () => {
    for (const c of children.reverse()) {
      if (c.exitCode !== null) continue;
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
    rmSync(data, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  };
  try {
    const loopback = ['--listen', '127.0.0.1:0', '--enroll-listen', '127.0.0.1:0'];
    const ctl = await start(
      [
        'controller',
        '--data',
        data,
        ...loopback,
        '--control-listen',
        '127.0.0.1:0',
        ...controllerArgs,
      ],
      /admin API token[^\n]*\n\s+ftapi\S+\n/,
    );
    const server = /api\s+(http\S+)/.exec(ctl.out)[1];
    const enroll = /enroll\s+(\S+)/.exec(ctl.out)[1];
    const admin = /\n\s+(ftapi\S+)\n/.exec(ctl.out)[1];
    const api = async (method, path, body) => {
      const r = await globalThis.fetch(server + path, {
        method,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await r.json();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    const boot = (
      await api('POST', '/api/v1/tokens', { kind: 'bootstrap', max_uses: agents, name })
    ).token;
    const started = Date.now();
    const per = Math.ceil(agents / processes);
    await Promise.all(
      Array.from({ length: processes }, (_, i) =>
        start(
          [
            'agent',
            '--controller',
            enroll,
            '--token',
            boot,
            '--state',
            join(state, `p${i}`),
            '--simulate',
            String(Math.min(per, agents - i * per)),
            '--hostname',
            `${name}-p${i}`,
          ],
          /simulated agents/,
        ),
      ),
    );
    for (;;) {
      const { agents: list } = await api('GET', '/api/v1/agents?state=connected');
      if (list.length >= agents) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    return {
      controller: ctl.child,
      server,
      enroll,
      admin,
      api,
      connectMs: Date.now() - started,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
