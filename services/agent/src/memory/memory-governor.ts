// SPDX-License-Identifier: Apache-2.0
/**
 * Keeps the agent under its memory cap (default 256 MiB RSS). Every
 * intervalMs it reads the resident set from /proc/self/statm (one small read);
 * above `softShare` of the cap it shrinks every registered cache (see
 * memoryCaches) to half and returns the C heap's free pages to the kernel
 * (malloc_trim), and counts the event; still above the cap afterwards, it
 * counts that too and logs it (at most once a minute). Between pressure
 * events it trims the C heap when much of it is free: the addon, libbpf and
 * Node's buffers free memory that glibc otherwise keeps for reuse.
 */
import { readFileSync } from 'node:fs';
import { memoryCaches } from '@fleettrace/common';
import { mallocInfo, mallocTrim, type MallocInfo } from '@fleettrace/native';

export const DEFAULT_MEMORY_LIMIT_MIB = 256;
const PAGE = 4096;
const MIB = 1024 * 1024;
/** free C heap above which a routine check trims it */
const TRIM_FREE_BYTES = 8 * MIB;

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
  /** checks that found the process above softShare of the limit and shrank the caches */
  pressureEvents: number;
  /** checks that found it above the limit even after shrinking */
  overLimitEvents: number;
  /** bytes the caches dropped under pressure, estimated */
  shrunkBytes: number;
  trims: number;
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
      this.shrunkBytes += memoryCaches.shrinkAll(0.5);
      this.trim();
      this.rss = read();
      if (this.rss > this.opts.limitBytes) {
        this.overLimitEvents++;
        if (Date.now() - this.lastWarnAt > 60_000) {
          this.lastWarnAt = Date.now();
          this.opts.log?.('agent memory above its limit after shrinking its caches', {
            rss_mib: Math.round(this.rss / MIB),
            limit_mib: Math.round(this.opts.limitBytes / MIB),
            caches: memoryCaches
              .figures()
              .map((f) => `${f.name} ${Math.round(f.bytes / 1024)} KiB`),
          });
        }
      }
    } else if (mallocInfo().freeBytes > TRIM_FREE_BYTES) {
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
    };
  }

  private trim(): void {
    mallocTrim();
    this.trims++;
  }
}
