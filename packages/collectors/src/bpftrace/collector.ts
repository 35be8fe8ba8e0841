// SPDX-License-Identifier: Apache-2.0
/**
 * bpftrace: a user's bpftrace script as a job, the fleet's SystemTap. The
 * agent runs `bpftrace -f json -e SCRIPT` as a child that dies with it
 * (setpriv --pdeathsig KILL: a killed agent leaves no bpftrace and so no
 * programs behind), stops it at the time limit or when its output passes the
 * size limit (SIGINT: bpftrace prints its maps then), and turns its JSON
 * lines into rows: printed lines, and every key of the maps it prints.
 * The programs it loaded are found through its file descriptors and their
 * run time is charged to the job's overhead budget like any collector's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { ProgramStats } from '@fleettrace/native';
import { parseParamsWith } from '@fleettrace/collector-spec';
import type { CollectorDefinition, CollectorSession, DrainResult } from '../runtime/definition';
import type { KernelFilter } from '../runtime/filters';
import { probeKernelFeatures } from '../runtime/kernel-features';
import { manifest } from './manifest';

export interface BpftraceRow {
  ts_ns: bigint;
  script_hash: string;
  kind: 'printf' | 'map' | 'hist' | 'stats';
  map: string;
  key: string;
  value: string;
}

type Params = ReturnType<typeof parseParams>;

function parseParams(raw: Record<string, unknown>, field: string) {
  return parseParamsWith(manifest.params, manifest.name, raw, field);
}

/** bpftrace's complaint when it may not raise RLIMIT_MEMLOCK: harmless since 5.11 (memcg accounting). */
const MEMLOCK_NOISE = /^ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK.*\n?/gm;

/** bpftrace's probe types that need a kernel feature beyond tracepoints, by that feature. */
const PROBE_FEATURES = {
  kprobe: ['kprobe', 'kretprobe', 'k', 'kr'],
  fentry: ['fentry', 'fexit', 'kfunc', 'kretfunc', 'f', 'fr'],
} as const;

/**
 * The probe types of a script's attach points (`kprobe:vfs_read, k:x { … }`):
 * words followed by a colon where an attach point can stand, at the start or
 * after a `}` or a `,`, once strings and comments are blanked out.
 */
export function probeTypes(script: string): string[] {
  const code = script
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ');
  const types = new Set<string>();
  for (const m of code.matchAll(/(?:^|[},])\s*([a-z]+):/g)) types.add(m[1]!);
  return [...types];
}

/**
 * Refuses, with the reason, a script whose probes need kprobes or fentry on a
 * kernel without them (bpftrace itself says "Error attaching probe" or less).
 */
async function checkProbeTypes(script: string, featuresObject: string): Promise<void> {
  const types = probeTypes(script);
  const needed = (Object.keys(PROBE_FEATURES) as Array<keyof typeof PROBE_FEATURES>).filter((f) =>
    types.some((t) => (PROBE_FEATURES[f] as readonly string[]).includes(t)),
  );
  if (needed.length === 0) return;
  const report = await probeKernelFeatures(featuresObject);
  for (const feature of needed) {
    const state = report.features[feature];
    if (state.present) continue;
    const used = types.filter((t) => (PROBE_FEATURES[feature] as readonly string[]).includes(t));
    throw new Error(
      `bpftrace: ${feature} unsupported on this kernel (${state.reason ?? 'absent'}): the script's ` +
        `${used.map((t) => `${t}:`).join(', ')} probes need it; use tracepoint: or rawtracepoint: ` +
        `probes instead (bpftrace -l 'tracepoint:*' lists them), or the tracepoint collector`,
    );
  }
}

/** Rows of one JSON line of `bpftrace -f json`; attached_probes and the like give none. */
export function rowsOfLine(line: string, scriptHash: string, ts: bigint): BpftraceRow[] {
  let doc: { type?: string; data?: unknown };
  try {
    doc = JSON.parse(line) as { type?: string; data?: unknown };
  } catch {
    // bpftrace prints a few lines that are not JSON (empty lines between maps).
    return line.trim() === '' ? [] : [row('printf', '', '', line)];
  }
  function row(kind: BpftraceRow['kind'], map: string, key: string, value: string): BpftraceRow {
    return { ts_ns: ts, script_hash: scriptHash, kind, map, key, value };
  }
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  switch (doc.type) {
    case 'printf':
      return [row('printf', '', '', text(doc.data))];
    case 'map':
    case 'stats': {
      const out: BpftraceRow[] = [];
      for (const [map, value] of Object.entries((doc.data ?? {}) as Record<string, unknown>)) {
        if (value !== null && typeof value === 'object' && !Array.isArray(value))
          for (const [key, v] of Object.entries(value as Record<string, unknown>))
            out.push(row(doc.type, map, key, text(v)));
        else out.push(row(doc.type, map, '', text(value)));
      }
      return out;
    }
    case 'hist': {
      const out: BpftraceRow[] = [];
      for (const [map, value] of Object.entries((doc.data ?? {}) as Record<string, unknown>)) {
        // A plain hist is a bucket list; a keyed one (@h[comm] = hist(x)) a map of them.
        const lists: Array<[string, unknown]> = Array.isArray(value)
          ? [['', value]]
          : Object.entries((value ?? {}) as Record<string, unknown>);
        for (const [key, buckets] of lists)
          for (const b of buckets as Array<{ min?: number; max?: number; count: number }>)
            out.push(
              row(
                'hist',
                map,
                JSON.stringify([key, b.min ?? null, b.max ?? null]),
                String(b.count),
              ),
            );
      }
      return out;
    }
    default:
      return [];
  }
}

/** The ids of the BPF programs a process holds, from its file descriptors. */
function programIds(pid: number): number[] {
  const ids: number[] = [];
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return ids;
  }
  for (const fd of fds) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

class BpftraceSession implements CollectorSession<BpftraceRow> {
  private rows: BpftraceRow[] = [];
  private partial = '';
  private outputBytes = 0;
  private dropped = 0;
  private stopping = false;
  private readonly exited: Promise<void>;
  private readonly timer: NodeJS.Timeout;

  /** the number of probes, when bpftrace says it attaches them; rejects if it exits first */
  readonly attached: Promise<number>;
  private onAttached?: (probes: number) => void;
  private stderr = '';

  constructor(
    private readonly child: ChildProcess,
    private readonly params: Params,
    private readonly scriptHash: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.attached = new Promise<number>((resolve, reject) => {
      this.onAttached = resolve;
      child.once('exit', (code) => {
        const text = this.stderr.replace(MEMLOCK_NOISE, '').trim();
        reject(new Error(`bpftrace: the script failed (exit ${code}):\n${text}`));
      });
      child.once('error', (err) =>
        reject(
          new Error(
            (err as NodeJS.ErrnoException).code === 'ENOENT'
              ? 'bpftrace: setpriv (util-linux) is not installed on this host'
              : `bpftrace: ${err.message}`,
          ),
        ),
      );
    });
    // The rejection is the start's to report; after the start an exit is no error.
    this.attached.catch(() => undefined);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-16_384)));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onOutput(d));
    this.timer = setTimeout(() => this.stop(), params.timeout);
    this.timer.unref();
  }

  private onOutput(chunk: string): void {
    this.outputBytes += Buffer.byteLength(chunk);
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    const ts = BigInt(Date.now()) * 1_000_000n;
    for (const line of lines) {
      const attached = /^\{"type":\s*"attached_probes",\s*"data":\s*\{"probes":\s*(\d+)/.exec(line);
      if (attached) this.onAttached?.(Number(attached[1]));
      const rows = rowsOfLine(line, this.scriptHash, ts);
      if (this.outputBytes > this.params.max_output && !this.stopping) this.stop();
      // Past the limit, only what the stop itself prints (the final maps) is kept.
      if (this.outputBytes > this.params.max_output * 2) this.dropped += rows.length;
      else this.rows.push(...rows);
    }
  }

  /** SIGINT: bpftrace prints its maps and exits; SIGKILL if it does not within 5 s. */
  private stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.child.kill('SIGINT');
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    kill.unref();
    void this.exited.then(() => clearTimeout(kill));
  }

  async drain(): Promise<DrainResult<BpftraceRow>> {
    const rows = this.rows;
    this.rows = [];
    const lost = this.dropped;
    this.dropped = 0;
    return { rows, lost, lostDetail: lost ? { 'output limit': lost } : undefined };
  }

  /** The run time of the programs bpftrace loaded (bpftool reads them by id). */
  programStats(): ProgramStats[] {
    if (this.child.exitCode !== null || this.child.pid === undefined) return [];
    const ids = new Set(programIds(this.child.pid));
    if (ids.size === 0) return [];
    const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) return [];
    return (
      JSON.parse(r.stdout) as Array<{
        id: number;
        run_time_ns?: number;
        run_cnt?: number;
        recursion_misses?: number;
      }>
    )
      .filter((p) => ids.has(p.id))
      .map((p) => ({
        id: p.id,
        runTimeNs: p.run_time_ns ?? 0,
        runCount: p.run_cnt ?? 0,
        recursionMisses: p.recursion_misses ?? 0,
      }));
  }

  /** A script chooses its own probes and predicates: the job's filters do not reach it. */
  setKernelFilter(_filter: KernelFilter): void {}

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.stop();
    await this.exited;
  }
}

export const collector: CollectorDefinition<Params, BpftraceRow> = {
  name: 'bpftrace',
  description: manifest.description,
  requires: manifest.requires,
  parseParams,

  async start({ params, filters, host }) {
    if (Object.values(filters).some((v) => v !== undefined && (!Array.isArray(v) || v.length)))
      throw new Error(
        'bpftrace: job filters do not reach a script; put the condition in the script (a /predicate/)',
      );
    await checkProbeTypes(params.script, host.bpfObjectPath('features'));
    const scriptHash = createHash('sha256').update(params.script).digest('hex').slice(0, 16);
    // setpriv: the child gets SIGKILL when the agent dies, however it dies.
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'KILL', '--', 'bpftrace', '-f', 'json', '-e', params.script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const session = new BpftraceSession(child, params, scriptHash);
    try {
      const probes = await session.attached;
      // bpftrace says how many probes it attaches before it has loaded them: wait for its programs.
      const deadline = Date.now() + 30_000;
      while (programIds(child.pid!).length < Math.min(probes, 1) && child.exitCode === null) {
        if (Date.now() > deadline)
          throw new Error('bpftrace: its programs did not load within 30 s');
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch (err) {
      child.kill('SIGKILL');
      const message = (err as Error).message;
      // setpriv runs, bpftrace is missing: setpriv says so and exits 127.
      if (/exit 127/.test(message) && /bpftrace/.test(message) && /No such file/.test(message))
        throw new Error('bpftrace: not installed on this host');
      throw err;
    }
    return session;
  },
};
