// SPDX-License-Identifier: Apache-2.0
/**
 * Runs one collector on this host for a while, draining it every interval:
 * what `fleettrace trace <collector>` does with no controller.
 */
import { RunTimeStats, type ProgramStats } from '@fleettrace/native';
import { ValidationError } from '@fleettrace/common';
import type { CollectorDefinition, DrainResult, Filters, HostContext } from './definition';
import { validateFilters } from './filters';
import { bpfObjectPath, localHost } from './host';
import { missingFeatures, probeKernelFeatures, type KernelFeatureReport } from './kernel-features';
import { collector as findCollector, collectors } from './registry';

export interface LocalRunOptions {
  collector: string;
  params?: Record<string, unknown>;
  filters?: Filters;
  durationMs: number;
  intervalMs: number;
  /** stops the run early (Ctrl-C); what was collected is still returned */
  signal?: AbortSignal;
  onInterval?(result: DrainResult<unknown>, elapsedMs: number): void;
  host?: HostContext;
  mapEntries?: Record<string, number>;
  /** a report from an earlier probe, to skip probing again */
  features?: KernelFeatureReport;
}

export interface LocalRunResult {
  definition: CollectorDefinition;
  rows: unknown[];
  intervals: number;
  lost: number;
  /** loss by cause, for collectors that report causes */
  lostDetail: Record<string, number>;
  /** increments kept in coarser overflow rows (pid 0) instead of per process */
  coarsened: number;
  elapsedMs: number;
  /** kernel time spent in the collector's programs during the run */
  bpfRunTimeNs: number;
  bpfRunCount: number;
  /** what the collector did not collect on this host (CollectorSession.notes) */
  notes: string[];
}

/** Resolves a collector name or throws a ValidationError listing the known ones. */
export function requireCollector(name: string, field = 'collector'): CollectorDefinition {
  const def = findCollector(name);
  if (!def) {
    throw new ValidationError(
      field,
      `unknown collector ${JSON.stringify(name)}; known: ${[...collectors().keys()].join(', ')}`,
    );
  }
  return def;
}

export async function runLocal(opts: LocalRunOptions): Promise<LocalRunResult> {
  const def = requireCollector(opts.collector);
  const params = def.parseParams(opts.params ?? {}, 'params');
  const filters = validateFilters(opts.filters ?? {});
  const report = opts.features ?? (await probeKernelFeatures(bpfObjectPath('features')));
  const missing = missingFeatures(report, def.requires);
  if (missing.length > 0) {
    const why = missing.map((f) => `${f} (${report.features[f].reason ?? 'absent'})`).join(', ');
    throw new Error(`collector ${def.name} cannot run on kernel ${report.kernel}: missing ${why}`);
  }
  const host = opts.host ?? localHost();
  const started = Date.now();
  const session = await def.start({ params, filters, host, mapEntries: opts.mapEntries });
  const stats = new SampledRunTimeStats(() => session.programStats());
  const rows: unknown[] = [];
  let lost = 0;
  let coarsened = 0;
  let intervals = 0;
  const lostDetail: Record<string, number> = {};
  const take = (result: DrainResult<unknown>) => {
    rows.push(...result.rows);
    lost += result.lost;
    coarsened += result.coarsened ?? 0;
    for (const [cause, n] of Object.entries(result.lostDetail ?? {}))
      lostDetail[cause] = (lostDetail[cause] ?? 0) + n;
  };
  try {
    const deadline = started + opts.durationMs;
    while (!opts.signal?.aborted) {
      const wait = Math.min(opts.intervalMs, deadline - Date.now());
      if (wait > 0) await sleep(wait, opts.signal);
      const result = await session.drain();
      intervals++;
      take(result);
      opts.onInterval?.(result, Date.now() - started);
      if (Date.now() >= deadline) break;
    }
    if (opts.signal?.aborted) take(await session.drain());
    const cost = stats.estimate();
    return {
      definition: def,
      rows,
      intervals,
      lost,
      lostDetail,
      coarsened,
      elapsedMs: Date.now() - started,
      bpfRunTimeNs: cost.runTimeNs,
      bpfRunCount: cost.runCount,
      notes: [...(session.notes ?? [])],
    };
  } finally {
    stats.estimate();
    await session.close();
  }
}

/**
 * BPF run-time statistics add two clock reads to every program run while any
 * process holds them on, as much as a small program costs: they are on for
 * the first 100 ms of each second only, and estimate() extrapolates what
 * those windows saw to the whole run.
 */
class SampledRunTimeStats {
  private stats: RunTimeStats | undefined;
  private start: { runTimeNs: number; runCount: number; at: number } | undefined;
  private seen = { runTimeNs: 0, runCount: 0, ms: 0 };
  private readonly began = Date.now();
  private readonly timer: NodeJS.Timeout;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly read: () => ProgramStats[]) {
    this.open();
    this.timer = setInterval(() => this.open(), 1000);
    this.timer.unref();
  }

  private totals() {
    const p = this.read();
    return {
      runTimeNs: p.reduce((a, x) => a + x.runTimeNs, 0),
      runCount: p.reduce((a, x) => a + x.runCount, 0),
      at: Date.now(),
    };
  }

  private open(): void {
    this.stats = new RunTimeStats();
    this.start = this.totals();
    this.closeTimer = setTimeout(() => this.closeWindow(), 100);
    this.closeTimer.unref();
  }

  private closeWindow(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    if (!this.start) return;
    const end = this.totals();
    this.seen.runTimeNs += end.runTimeNs - this.start.runTimeNs;
    this.seen.runCount += end.runCount - this.start.runCount;
    this.seen.ms += end.at - this.start.at;
    this.start = undefined;
    this.stats?.close();
    this.stats = undefined;
  }

  /** Estimated run time and runs since the start; stops sampling. */
  estimate(): { runTimeNs: number; runCount: number } {
    clearInterval(this.timer);
    this.closeWindow();
    const scale = this.seen.ms > 0 ? (Date.now() - this.began) / this.seen.ms : 0;
    return {
      runTimeNs: Math.round(this.seen.runTimeNs * scale),
      runCount: Math.round(this.seen.runCount * scale),
    };
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
