// SPDX-License-Identifier: Apache-2.0
/**
 * Typed front of the libbpf addon. The addon moves bytes and handles; decoding,
 * policy and enrichment belong to the collectors and the agent.
 *
 * Threads: every method runs on the JavaScript main thread except
 * `BpfObject.load()`, whose verifier work runs on the libuv thread pool, and
 * the ring-buffer readers, which consume on one native thread each and call
 * back on the main thread.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NativeError extends Error {
  /** errno name, e.g. "EACCES" */
  code?: string;
  errno?: number;
  operation?: string;
  /** the verifier's log when a load failed */
  log?: string;
  /** the program the verifier refused */
  program?: string;
}

export interface ProgramInfo {
  name: string;
  section: string;
  type: string;
  fd: number;
  id: number;
  autoload: boolean;
}

export interface MapInfo {
  name: string;
  type: string;
  fd: number;
  keySize: number;
  /** the kernel's value size */
  valueSize: number;
  /** bytes exchanged per value with user space: per-CPU maps hold one 8-aligned slot per possible CPU */
  userValueSize: number;
  maxEntries: number;
  perCpu: boolean;
}

export interface MapDump {
  keys: Buffer;
  values: Buffer;
  count: number;
  keySize: number;
  valueSize: number;
  /** whether the kernel's batch operations were used */
  batched: boolean;
}

export interface ProgramStats {
  id: number;
  runTimeNs: number;
  runCount: number;
  recursionMisses: number;
}

export interface PerfEventOptions {
  type: number;
  config: number;
  frequency?: number;
  period?: number;
}

export interface UprobeOptions {
  binary: string;
  symbol: string;
  retprobe?: boolean;
  pid?: number;
}

export interface RingReaderStats {
  /** records consumed from the kernel ring */
  records: number;
  /** records handed to JavaScript */
  delivered: number;
  batches: number;
  bytes: number;
  /** times the reader waited because JavaScript had not taken earlier batches (back-pressure) */
  waits: number;
  /** records discarded by an abrupt destroy() */
  dropped: number;
  /** whether JavaScript paused the reader (its own queue is full) */
  paused: boolean;
  error: string | null;
}

interface NativeBpfObject {
  setConstant(name: string, value: Buffer): void;
  setMaxEntries(map: string, n: number): void;
  setAutoload(program: string, autoload: boolean): void;
  load(): Promise<void>;
  programs(): ProgramInfo[];
  maps(): MapInfo[];
  attach(program: string): number;
  attachPerfEvent(program: string, opts: PerfEventOptions): number[];
  countPerfEvent(map: string, opts: { type: number; config: number }): number[];
  attachUprobe(program: string, opts: UprobeOptions): number;
  attachTracepoint(program: string, category: string, name: string): number;
  detach(link: number): boolean;
  mapFd(map: string): number;
  mapLookup(map: string, key: Buffer): Buffer | null;
  mapUpdate(map: string, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(map: string, key: Buffer): boolean;
  mapDump(map: string, opts?: { delete?: boolean }): MapDump;
  programStats(program: string): ProgramStats;
  close(): void;
}

interface NativeRingReader {
  stop(): void;
  flush(): void;
  pause(): void;
  resume(): void;
  join(): void;
  destroy(): void;
  stats(): RingReaderStats;
}

interface NativeModule {
  BpfObject: new (bytes: Buffer, name: string) => NativeBpfObject;
  RingReader: new (
    mapFd: number,
    onBatch: (batch: Buffer | null, count: number) => void,
    opts: RingReaderOptions,
  ) => NativeRingReader;
  probeProgramTypes(): Record<string, boolean>;
  probeMapTypes(): Record<string, boolean>;
  kernelHelpers(): Record<string, number>;
  probeHelper(programType: string, helperId: number): boolean;
  probePerfEvent(type: number, config: number): number;
  enableRunTimeStats(): number;
  closeFd(fd: number): void;
  numPossibleCpus(): number;
  mallocInfo(): MallocInfo;
  mallocTrim(): boolean;
  libbpfVersion(): string;
  bootTimeOffsetNs(): bigint;
}

let loaded: NativeModule | undefined;

/**
 * The addon, loaded on first use: packages that import this module only for
 * its types or pure helpers (the controller validating collector parameters)
 * run on hosts without libbpf.
 */
function addon(): NativeModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a compiled addon has no ES module form
  loaded ??= require(
    join(__dirname, '..', '..', 'build', 'Release', 'fleettrace_native.node'),
  ) as NativeModule;
  return loaded;
}

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/** perf_event types (include/uapi/linux/perf_event.h). */
export const PERF_TYPE_HARDWARE = 0;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_COUNT_HW_CPU_CYCLES = 0;
export const PERF_COUNT_SW_CPU_CLOCK = 0;

/** Encoders for `setConstant`; sizes are checked against the object's BTF by the addon. */
export const constant = {
  u8: (v: number): Buffer => Buffer.from([v & 0xff]),
  u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  },
  u64(v: bigint | number): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  },
  /** A NUL-padded char array of `size` bytes; longer strings are refused, not cut. */
  chars(v: string, size: number): Buffer {
    const bytes = Buffer.from(v, 'utf8');
    if (bytes.length >= size) throw new RangeError(`"${v}" is longer than ${size - 1} bytes`);
    const b = Buffer.alloc(size);
    bytes.copy(b);
    return b;
  },
};

export interface RingReaderOptions {
  /** records per batch handed to JavaScript (default 4096) */
  maxBatchRecords?: number;
  /** batches queued towards JavaScript before the reader waits (default 8) */
  maxQueuedBatches?: number;
  /** how often the reader reads the ring when the BPF side did not wake it (default 1000 ms) */
  pollIntervalMs?: number;
}

/**
 * A reader of one ring-buffer map. `onRecords` receives each record as a
 * Buffer view into a batch the native reader allocated; a view keeps its
 * batch alive for as long as it is referenced.
 */
export class RingBufferReader {
  private readonly reader: NativeRingReader;
  private ended = false;
  private endWaiters: Array<() => void> = [];
  private flushWaiters: Array<() => void> = [];

  constructor(mapFd: number, onRecords: (records: Buffer[]) => void, opts: RingReaderOptions = {}) {
    this.reader = new (addon().RingReader)(
      mapFd,
      (batch, count) => {
        if (batch === null && count === 1) {
          for (const w of this.flushWaiters.splice(0)) w();
          return;
        }
        if (batch === null) {
          this.ended = true;
          this.reader.join();
          for (const w of this.endWaiters.splice(0)) w();
          for (const w of this.flushWaiters.splice(0)) w();
          return;
        }
        onRecords(splitRecords(batch));
      },
      opts,
    );
  }

  /**
   * Resolves once every record the kernel committed before this call has been
   * passed to `onRecords` (at once while paused: the caller's queue is full).
   * BPF programs submit without waking the reader below a fill threshold
   * (ft_ringbuf_submit), so a drain calls this instead of waiting for a wake-up.
   */
  flush(): Promise<void> {
    if (this.ended) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    this.reader.flush();
    return done;
  }

  stats(): RingReaderStats {
    return this.reader.stats();
  }

  /**
   * Stops consuming the kernel ring until resume(): for a caller whose own
   * queue is full. Events the kernel cannot store meanwhile are counted as
   * lost by the BPF side, like any full ring.
   */
  pause(): void {
    this.reader.pause();
  }

  resume(): void {
    this.reader.resume();
  }

  /** Drains what the kernel ring holds, delivers it, then stops the thread. */
  async close(): Promise<void> {
    if (this.ended) return;
    const done = new Promise<void>((resolve) => this.endWaiters.push(resolve));
    this.reader.stop();
    await done;
  }

  /** Immediate teardown (process exit); undelivered records are counted in `dropped`. */
  destroy(): void {
    this.ended = true;
    this.reader.destroy();
    for (const w of this.endWaiters.splice(0)) w();
    for (const w of this.flushWaiters.splice(0)) w();
  }
}

/** Splits a native batch framed as [u32 length][bytes]... into record views. */
export function splitRecords(batch: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 4 <= batch.length) {
    const len = batch.readUInt32LE(at);
    out.push(batch.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** Splits a per-CPU value into one view per possible CPU. */
export function perCpuSlots(value: Buffer, kernelValueSize: number): Buffer[] {
  const stride = (kernelValueSize + 7) & ~7;
  const out: Buffer[] = [];
  for (let at = 0; at + kernelValueSize <= value.length; at += stride) {
    out.push(value.subarray(at, at + kernelValueSize));
  }
  return out;
}

/**
 * One BPF object: open from bytes, configure (constants, map sizes, autoload),
 * load, attach, read maps and rings, close. `close()` detaches everything; the
 * kernel also detaches when the process dies, because every attachment is a
 * file descriptor of this process and nothing is pinned.
 */
export class BpfObject {
  private readonly obj: NativeBpfObject;
  private readonly readers = new Set<RingBufferReader>();
  private mapInfo: Map<string, MapInfo> | undefined;
  private closed = false;

  constructor(
    bytes: Buffer,
    readonly name: string,
  ) {
    this.obj = new (addon().BpfObject)(bytes, name);
  }

  static fromFile(path: string, name?: string): BpfObject {
    const base = name ?? path.replace(/^.*\//, '').replace(/\.bpf\.o$/, '');
    return new BpfObject(readFileSync(path), base);
  }

  setConstant(name: string, value: Buffer): void {
    this.obj.setConstant(name, value);
  }

  setMaxEntries(map: string, n: number): void {
    this.obj.setMaxEntries(map, n);
    this.mapInfo = undefined;
  }

  setAutoload(program: string, autoload: boolean): void {
    this.obj.setAutoload(program, autoload);
  }

  async load(): Promise<void> {
    await this.obj.load();
    this.mapInfo = undefined;
  }

  programs(): ProgramInfo[] {
    return this.obj.programs();
  }

  maps(): MapInfo[] {
    return this.obj.maps();
  }

  map(name: string): MapInfo {
    if (!this.mapInfo) this.mapInfo = new Map(this.obj.maps().map((m) => [m.name, m]));
    const info = this.mapInfo.get(name);
    if (!info) throw new Error(`object ${this.name} has no map named ${name}`);
    return info;
  }

  /** Attaches by section name (tracepoint, raw_tp, tp_btf, ...); returns a link id. */
  attach(program: string): number {
    return this.obj.attach(program);
  }

  /** Attaches every loaded program whose section says where it goes. */
  attachAll(): number[] {
    return this.programs()
      .filter((p) => p.autoload && p.fd >= 0)
      .map((p) => this.attach(p.name));
  }

  attachPerfEvent(program: string, opts: PerfEventOptions): number[] {
    return this.obj.attachPerfEvent(program, opts);
  }

  /**
   * Opens a perf event in counting mode (no sampling) on every online CPU and
   * stores each CPU's event in the perf event array `map` at its index, for
   * bpf_perf_event_read_value(map, BPF_F_CURRENT_CPU). Open until close.
   * Returns the CPUs counted.
   */
  countPerfEvent(map: string, opts: { type: number; config: number }): number[] {
    return this.obj.countPerfEvent(map, opts);
  }

  attachUprobe(program: string, opts: UprobeOptions): number {
    return this.obj.attachUprobe(program, opts);
  }

  /** Attaches `program` to the tracepoint category:name, named at run time. */
  attachTracepoint(program: string, category: string, name: string): number {
    return this.obj.attachTracepoint(program, category, name);
  }

  detach(link: number): boolean {
    return this.obj.detach(link);
  }

  mapFd(map: string): number {
    return this.obj.mapFd(map);
  }

  lookup(map: string, key: Buffer): Buffer | null {
    return this.obj.mapLookup(map, key);
  }

  update(map: string, key: Buffer, value: Buffer, flags = BPF_ANY): void {
    this.obj.mapUpdate(map, key, value, flags);
  }

  delete(map: string, key: Buffer): boolean {
    return this.obj.mapDelete(map, key);
  }

  /** Reads every entry; with `delete`, removes what it read (atomically per batch). */
  dump(map: string, opts: { delete?: boolean } = {}): MapDump {
    return this.obj.mapDump(map, opts);
  }

  /** Sum of a per-CPU single-slot u64 counter map (such as a loss counter). */
  sumPerCpuCounter(map: string): bigint {
    const value = this.lookup(map, constant.u32(0));
    if (!value) return 0n;
    let sum = 0n;
    for (const slot of perCpuSlots(value, 8)) sum += slot.readBigUInt64LE(0);
    return sum;
  }

  programStats(program: string): ProgramStats {
    return this.obj.programStats(program);
  }

  openRingBuffer(
    map: string,
    onRecords: (records: Buffer[]) => void,
    opts: RingReaderOptions = {},
  ): RingBufferReader {
    const reader = new RingBufferReader(this.mapFd(map), onRecords, opts);
    this.readers.add(reader);
    return reader;
  }

  /** Drains and stops ring readers, then detaches and frees everything. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.readers) await r.close();
    this.readers.clear();
    this.obj.close();
  }

  /** Synchronous teardown for exit paths. */
  closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.readers) r.destroy();
    this.readers.clear();
    this.obj.close();
  }
}

export const features = {
  programTypes: (): Record<string, boolean> => addon().probeProgramTypes(),
  mapTypes: (): Record<string, boolean> => addon().probeMapTypes(),
  kernelHelpers: (): Record<string, number> => addon().kernelHelpers(),
  helper: (programType: string, helperId: number): boolean =>
    addon().probeHelper(programType, helperId),
  /** 0 when the event opens, else the errno (ENOENT: no such PMU event here). */
  perfEvent: (type: number, config: number): number => addon().probePerfEvent(type, config),
};

/**
 * Keeps the kernel's BPF run-time accounting on while open (BPF_ENABLE_STATS,
 * not the global kernel.bpf_stats_enabled sysctl). Close it when done.
 */
export class RunTimeStats {
  private fd: number | undefined = addon().enableRunTimeStats();

  close(): void {
    if (this.fd !== undefined) addon().closeFd(this.fd);
    this.fd = undefined;
  }
}

export const numPossibleCpus = (): number => addon().numPossibleCpus();
export const libbpfVersion = (): string => addon().libbpfVersion();

/** CLOCK_REALTIME - CLOCK_BOOTTIME: add to a BPF boot-time stamp to get UTC Unix ns. */
export const bootTimeOffsetNs = (): bigint => addon().bootTimeOffsetNs();

/** The C heap (glibc malloc, mallinfo2(3)): what libbpf, the addon, Node's buffers and V8's zones hold. */
export interface MallocInfo {
  /** bytes of the arenas (sbrk and arena mmaps) */
  arenaBytes: number;
  /** bytes of blocks mmapped on their own (large allocations) */
  mmappedBytes: number;
  /** bytes in use, mmapped blocks included */
  inUseBytes: number;
  /** bytes free in the arenas, held by the process until trimmed */
  freeBytes: number;
  /** bytes at the top of the main arena that a trim gives back at once */
  releasableBytes: number;
}

export const mallocInfo = (): MallocInfo => addon().mallocInfo();
/** Returns the arenas' free pages to the kernel (malloc_trim(3)); true when some were. */
export const mallocTrim = (): boolean => addon().mallocTrim();
