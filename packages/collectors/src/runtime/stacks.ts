// SPDX-License-Identifier: Apache-2.0
/**
 * From stack-map ids to symbolized, hashed stacks. Stack-map ids are per map
 * and reused, so they never leave this module: rows carry the hash of the
 * rendered frames (stackHash) and the frames themselves.
 */
import { BpfObject } from '@fleettrace/native';
import { isTruncatedUserStack, stackHash, type Frame, type Symbolizer } from '@fleettrace/symbols';

/** Frames of every id in a stack map, read (and optionally cleared) in one pass. */
export function readStackMap(
  obj: BpfObject,
  map: string,
  opts: { delete?: boolean } = {},
): Map<number, bigint[]> {
  const dump = obj.dump(map, opts);
  const stacks = new Map<number, bigint[]>();
  for (let i = 0; i < dump.count; i++) {
    const id = dump.keys.readUInt32LE(i * dump.keySize);
    const ips: bigint[] = [];
    const base = i * dump.valueSize;
    for (let f = 0; f < dump.valueSize / 8; f++) {
      const ip = dump.values.readBigUInt64LE(base + f * 8);
      if (ip === 0n) break;
      ips.push(ip);
    }
    stacks.set(id, ips);
  }
  return stacks;
}

export interface ResolvedStack {
  /** hash of the rendered frames: the only stack id that leaves the host */
  stack_id: string;
  /** leaf first */
  kernel_frames: string[];
  user_frames: string[];
  user_depth: number;
  /** frame-pointer unwinding stopped before the thread's first frame (e.g. through Debian's libc) */
  truncated: boolean;
  /** why a stack is missing: "lost" (map full / cleared), or empty */
  missing: string;
  /** frames in JIT or interpreter-generated code, shown as [anon]+0x...: not resolved to script functions */
  jit_frames: number;
}

const ERRNO_FAULT = -14;

/*
 * Frames of the tracing machinery itself at the top of a kernel stack taken
 * inside a tracepoint (the BPF program, its trampoline, the tracepoint
 * iterator): they say nothing about the traced task.
 */
const TRACING_FRAME =
  /^(bpf_prog_[0-9a-f]+_|__bpf_trace_|__traceiter_|bpf_trace_run\d|__bpf_prog_run)/;

/** Kernel frames without the leading tracing frames. */
export function withoutTracingFrames(frames: Frame[]): Frame[] {
  let i = 0;
  while (i < frames.length && TRACING_FRAME.test(frames[i]?.symbol ?? frames[i]?.text ?? '')) i++;
  return i === 0 ? frames : frames.slice(i);
}

/** Frames of code without an ELF file behind it: JIT-compiled code and interpreters' generated code. */
export function isJitFrame(text: string): boolean {
  return text.startsWith('[anon') || text.startsWith('[heap]') || text.startsWith('[stack]');
}

/** Resolves (kernel id, user id) pairs of one pid; memoized per drain by the caller's instance. */
export class StackResolver {
  private readonly memo = new Map<string, ResolvedStack>();

  /**
   * @param maxFrames the frames a stack map slot holds (the collector
   *   header's *_MAX_FRAMES): a user stack that long may have been cut
   */
  constructor(
    private readonly symbolizer: Symbolizer,
    private readonly stacks: Map<number, bigint[]>,
    private readonly maxFrames: number,
  ) {}

  resolve(pid: number, kernelId: number, userId: number): ResolvedStack {
    const memoKey = `${pid}/${kernelId}/${userId}`;
    const hit = this.memo.get(memoKey);
    if (hit) return hit;
    const missing: string[] = [];
    const ips = (id: number, what: string): bigint[] => {
      if (id === ERRNO_FAULT) return []; // no stack of this kind (kernel thread, or no kernel part)
      if (id < 0) {
        missing.push(`${what} stack lost (${id})`);
        return [];
      }
      const found = this.stacks.get(id);
      if (!found) missing.push(`${what} stack lost (id ${id} not in map)`);
      return found ?? [];
    };
    const kernel: Frame[] = withoutTracingFrames(
      this.symbolizer.symbolizeKernel(ips(kernelId, 'kernel')),
    );
    const user: Frame[] = pid === 0 ? [] : this.symbolizer.symbolizeUser(pid, ips(userId, 'user'));
    const resolved: ResolvedStack = {
      stack_id: stackHash(kernel, user),
      kernel_frames: kernel.map((f) => f.text),
      user_frames: user.map((f) => f.text),
      user_depth: user.length,
      truncated: isTruncatedUserStack(user, this.maxFrames),
      missing: missing.join('; '),
      jit_frames: user.filter((f) => isJitFrame(f.text)).length,
    };
    this.memo.set(memoKey, resolved);
    return resolved;
  }
}

/** Folded-stack line (flamegraph.pl / speedscope input): root first, `;`-separated. */
export function foldedLine(comm: string, stack: ResolvedStack, weight: number): string {
  // Offsets split one function into many flame-graph boxes: keep "function (module)".
  const frames = [...[...stack.user_frames].reverse(), ...[...stack.kernel_frames].reverse()].map(
    (f) => f.replace(/\+0x[0-9a-f]+ \(/, ' (').replace(/;/g, ':'),
  );
  const root = stack.truncated ? ';[truncated]' : '';
  return `${comm.replace(/;/g, ':')}${root}${frames.length ? ';' + frames.join(';') : ''} ${weight}`;
}

/** Footnotes every stack summary prints: what the stacks cannot show, counted. */
export function stackNotes(
  rows: Array<ResolvedStack & { pid: number }>,
  weight: (r: ResolvedStack) => number,
): string[] {
  const total = rows.reduce((a, r) => a + weight(r), 0);
  if (total === 0) return [];
  const part = (pred: (r: ResolvedStack) => boolean) =>
    rows.filter(pred).reduce((a, r) => a + weight(r), 0);
  const pct = (n: number) => `${((100 * n) / total).toFixed(1)}%`;
  const notes: string[] = [];
  const truncated = part((r) => r.truncated);
  if (truncated) {
    notes.push(
      `${pct(truncated)} of the weight has truncated user stacks: code built without frame pointers ` +
        '(distribution libc, PHP, Python) stops the unwinder early; marked "truncated"',
    );
  }
  const jit = part((r) => r.jit_frames > 0);
  if (jit) {
    notes.push(
      `${pct(jit)} of the weight runs through JIT or interpreter code ([anon]+0x... frames): ` +
        'script-level frames (PHP, Python, Node.js) are not resolved by this collector',
    );
  }
  const missing = part((r) => r.missing !== '');
  if (missing)
    notes.push(
      `${pct(missing)} of the weight has stacks that could not be captured (map full or cleared)`,
    );
  return notes;
}
