// SPDX-License-Identifier: Apache-2.0
/**
 * Test and benchmark support. Workloads are small C programs built with the
 * system compiler on first use into a cache directory readable by every uid
 * (tests run some of them as other users).
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  renameSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { once } from 'node:events';

const WORKLOADS = resolve(__dirname, '../../workloads');
const CACHE = process.env.FLEETTRACE_TEST_CACHE ?? '/tmp/fleettrace-test-bin';

/** Compiles workloads/<name>.c (cached by mtime) and returns the binary's path. */
export function workload(name: string, extraFlags: string[] = []): string {
  mkdirSync(CACHE, { recursive: true, mode: 0o755 });
  chmodSync(CACHE, 0o755);
  const src = join(WORKLOADS, `${name}.c`);
  const out = join(
    CACHE,
    name + (extraFlags.length ? '-' + extraFlags.join('').replace(/[^a-z0-9]/gi, '') : ''),
  );
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    // Built beside and renamed into place, like renamedCopy: a running old build keeps its file.
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync('cc', ['-O2', '-Wall', ...extraFlags, '-o', tmp, src], { stdio: 'inherit' });
    chmodSync(tmp, 0o755);
    renameSync(tmp, out);
  }
  return out;
}

/**
 * A copy of a binary under another name, so its comm differs. Written beside
 * and renamed into place: a process still running the previous copy (a test
 * that left one behind, another test run) keeps its file, where copying over
 * it would fail with ETXTBSY.
 */
export function renamedCopy(binary: string, comm: string): string {
  const out = join(CACHE, comm);
  const tmp = `${out}.${process.pid}.tmp`;
  copyFileSync(binary, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
  return out;
}

/**
 * Runs /bin/true `times` times as `uid` (and the gid of the same number), one
 * after the other: exactly that many exec events of a uid nothing else on the
 * host uses, for a job filtered to it. Rejects if one does not exit 0.
 */
export async function execsAs(uid: number, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const child = spawn('/bin/true', [], { uid, gid: uid, stdio: 'ignore' });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`/bin/true as uid ${uid} exited ${code}`);
  }
}

/** A started syscall_workload waiting for `go()`. */
export class Workload {
  readonly pid: number;
  private output = '';

  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    pid: number,
  ) {
    this.pid = pid;
  }

  static async start(
    binary: string,
    args: string[],
    opts: { uid?: number; gid?: number } = {},
  ): Promise<Workload> {
    const child = spawn(binary, args, { stdio: 'pipe', uid: opts.uid, gid: opts.gid });
    let buf = '';
    child.stdout.setEncoding('utf8');
    const pid = await new Promise<number>((res, rej) => {
      const onData = (d: string) => {
        buf += d;
        const m = buf.match(/ready (\d+)\n/);
        if (m) {
          child.stdout.off('data', onData);
          res(Number(m[1]));
        }
      };
      child.stdout.on('data', onData);
      child.once('exit', (code) =>
        rej(new Error(`${binary} exited with ${code} before it was ready`)),
      );
      child.once('error', rej);
    });
    const w = new Workload(child, pid);
    child.stdout.on('data', (d: string) => (w.output += d));
    return w;
  }

  /** Starts the work and resolves when the workload printed "done". */
  async run(): Promise<void> {
    const done = new Promise<void>((res, rej) => {
      const check = () => {
        if (this.output.includes('done\n')) {
          this.child.stdout.off('data', check);
          res();
        }
      };
      this.child.stdout.on('data', check);
      this.child.once('exit', (code) => rej(new Error(`workload exited with ${code} before done`)));
      check();
    });
    this.child.stdin.write('g');
    await done;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.stdin.end();
    await exited;
  }
}

/** A cgroup created for a test, v1 memory or v2, removed by `remove()`. */
export class TestCgroup {
  constructor(readonly dir: string) {}

  static create(mount: string, name: string): TestCgroup {
    const dir = join(mount, name);
    mkdirSync(dir, { recursive: true });
    return new TestCgroup(dir);
  }

  add(pid: number): void {
    writeFileSync(join(this.dir, 'cgroup.procs'), `${pid}\n`);
  }

  /** The cgroup must be empty (its processes exited). */
  remove(): void {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(this.dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        execFileSync('sleep', ['0.05']);
      }
    }
  }
}

/** A loaded BPF program: its kernel id (never reused while the kernel runs) and name. */
export interface BpfProgram {
  id: number;
  name: string;
}

/** Every loaded BPF program, by id (bpftool prog show). */
function loadedPrograms(): Map<number, string> {
  const out = execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  return new Map(
    (JSON.parse(out) as Array<{ id: number; name?: string }>).map((p) => [p.id, p.name ?? '']),
  );
}

/** `pid` and every process below it (children of children…), from /proc/<pid>/stat. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The comm field is in parentheses and may hold anything: read after its last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // exited while listing
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++)
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  return tree;
}

/**
 * The ft_ programs the given processes hold (default: this one), found
 * through their file descriptors: a program fd or a link fd shows the
 * program's id as `prog_id` in /proc/<pid>/fdinfo/<fd>. Only these, never
 * every ft_ program on the host: another fleettrace or another test running
 * on the machine loads programs of the same names.
 */
export function ftProgramsOf(pids: number[] = [process.pid]): BpfProgram[] {
  const ids = new Set<number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fdinfo`);
    } catch {
      continue; // exited
    }
    for (const fd of fds) {
      try {
        const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
        if (m) ids.add(Number(m[1]));
      } catch {
        // closed while listing
      }
    }
  }
  const loaded = loadedPrograms();
  return [...ids]
    .map((id) => ({ id, name: loaded.get(id) ?? '' }))
    .filter((p) => p.name.startsWith('ft_'))
    .sort((a, b) => a.id - b.id);
}

/**
 * Waits until none of `programs` is loaded any more (a closed program is
 * freed after an RCU grace period, not at once); returns the names of those
 * still loaded after `ms`.
 */
export async function waitForUnloaded(programs: BpfProgram[], ms = 2000): Promise<string[]> {
  const deadline = Date.now() + ms;
  const left = () => {
    const loaded = loadedPrograms();
    return programs.filter((p) => loaded.has(p.id)).map((p) => `${p.name} (id ${p.id})`);
  };
  let still = left();
  while (still.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    still = left();
  }
  return still;
}
