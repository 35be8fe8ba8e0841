// SPDX-License-Identifier: Apache-2.0
/**
 * Keeps the agent under its memory cap (default 256 MiB RSS). Every
 * intervalMs it reads the resident set from /proc/self/statm (one small read).
 * Above `softShare` of the cap it first gives back what costs nothing to
 * rebuild: the C heap's free pages (malloc_trim) and, at most every 30 s, the
 * V8 heap's garbage (a full collection); only if the process is still above
 * `softShare` after that does it shrink every registered cache (see
 * memoryCaches) to half, at most every 30 s, so that a start-up peak does not
 * make it throw away and rebuild the same symbols over and over. Still above
 * the cap, it counts that and logs it (at most once a minute). Between
 * pressure events it trims the C heap when 16 MiB more of it went free since
 * the last trim (libbpf's BTF parsing at a job's start, drained map copies).
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { memoryCaches } from '@fleettrace/common';
import { mallocInfo, mallocTrim, type MallocInfo } from '@fleettrace/native';

export const DEFAULT_MEMORY_LIMIT_MIB = 256;
const PAGE = 4096;
const MIB = 1024 * 1024;
/** C heap gone free since the last trim above which a routine check trims it */
const TRIM_FREED_BYTES = 16 * MIB;
/** the least time between two full collections, and between two cache shrinks */
const PRESSURE_ACTION_MS = 30_000;

/** V8's full collection; null when the runtime does not allow one (looked up on first use). */
let fullGc: (() => void) | null | undefined;
/** Runs a full V8 collection; false when there is none to run. */
function collectGarbage(): boolean {
  if (fullGc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      fullGc = runInNewContext('gc') as () => void;
    } catch {
      fullGc = null;
    }
  }
  fullGc?.();
  return fullGc !== null;
}

export interface MemoryGovernorOptions {
  limitBytes: number;
  /** default 5 s */
  intervalMs?: number;
  /** share of the limit at which caches are shrunk (default 0.8) */
  softShare?: number;
  log?: (message: string, fields: Record<string, unknown>) => void;
  /** the resident set in bytes (tests); default /proc/self/statm */
  readRss?: () => number;
}

export interface MemoryFigures {
  rssBytes: number;
  limitBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  malloc: MallocInfo;
  /** checks that found the process above softShare of the limit (see the class comment) */
  pressureEvents: number;
  /** checks that found it above the limit after giving memory back */
  overLimitEvents: number;
  /** bytes the caches dropped under pressure, estimated */
  shrunkBytes: number;
  trims: number;
  /** full V8 collections run under pressure */
  collections: number;
}

export function residentBytes(): number {
  const statm = readFileSync('/proc/self/statm', 'latin1').split(' ');
  return Number(statm[1]) * PAGE;
}

export class MemoryGovernor {
  private timer: NodeJS.Timeout | undefined;
  private rss = 0;
  private pressureEvents = 0;
  private overLimitEvents = 0;
  private shrunkBytes = 0;
  private trims = 0;
  private lastWarnAt = 0;
  private lastGcAt = 0;
  private lastShrinkAt = 0;
  private freeAtTrim = 0;
  private collections = 0;

  constructor(private readonly opts: MemoryGovernorOptions) {
    if (!(opts.limitBytes >= 64 * MIB))
      throw new RangeError(
        `memory limit must be at least 64 MiB, got ${opts.limitBytes / MIB} MiB`,
      );
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.opts.intervalMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check (the timer's); returns the resident set it read. */
  check(): number {
    const read = this.opts.readRss ?? residentBytes;
    this.rss = read();
    const soft = this.opts.limitBytes * (this.opts.softShare ?? 0.8);
    if (this.rss > soft) {
      this.pressureEvents++;
      const now = Date.now();
      if (now - this.lastGcAt >= PRESSURE_ACTION_MS) {
        this.lastGcAt = now;
        if (collectGarbage()) this.collections++;
      }
      this.trim();
      this.rss = read();
      if (this.rss > soft && now - this.lastShrinkAt >= PRESSURE_ACTION_MS) {
        this.lastShrinkAt = now;
        this.shrunkBytes += memoryCaches.shrinkAll(0.5);
        this.trim();
        this.rss = read();
      }
      if (this.rss > this.opts.limitBytes) {
        this.overLimitEvents++;
        if (Date.now() - this.lastWarnAt > 60_000) {
          this.lastWarnAt = Date.now();
          this.opts.log?.('agent memory above its limit after giving memory back', {
            rss_mib: Math.round(this.rss / MIB),
            limit_mib: Math.round(this.opts.limitBytes / MIB),
            caches: memoryCaches
              .figures()
              .map((f) => `${f.name} ${Math.round(f.bytes / 1024)} KiB`),
          });
        }
      }
    } else if (mallocInfo().freeBytes > this.freeAtTrim + TRIM_FREED_BYTES) {
      this.trim();
    }
    return this.rss;
  }

  figures(): MemoryFigures {
    const m = process.memoryUsage();
    return {
      rssBytes: this.rss || m.rss,
      limitBytes: this.opts.limitBytes,
      heapUsedBytes: m.heapUsed,
      heapTotalBytes: m.heapTotal,
      externalBytes: m.external,
      malloc: mallocInfo(),
      pressureEvents: this.pressureEvents,
      overLimitEvents: this.overLimitEvents,
      shrunkBytes: this.shrunkBytes,
      trims: this.trims,
      collections: this.collections,
    };
  }

  private trim(): void {
    mallocTrim();
    this.trims++;
    this.freeAtTrim = mallocInfo().freeBytes;
  }
}
