// SPDX-License-Identifier: Apache-2.0
/**
 * The contract between a collector and whatever runs it (the local `trace`
 * command today, the agent's job runner later). A collector lives in one
 * folder, src/<name>/collector.ts, with its kernel side in bpf/<name>/; the
 * registry finds it there, so adding one edits no list.
 */
import type { CgroupPaths, UserNames } from '@fleettrace/common';
import type { Filters, NeededFilter } from '@fleettrace/collector-spec';
import type { ProgramStats } from '@fleettrace/native';
import type { Symbolizer } from '@fleettrace/symbols';
import type { KernelFilter } from './filters';
import type { PprofProfile } from './pprof';
import type { KernelFeature } from './kernel-features';

export type { Filters } from '@fleettrace/collector-spec';

/** Host facilities a collector uses to enrich its rows. */
export interface HostContext {
  users: UserNames;
  cgroups: CgroupPaths;
  /** path of bpf/build/<name>.bpf.o */
  bpfObjectPath(name: string): string;
  /**
   * The host's one symbolizer (process maps and ELF caches; kallsyms is
   * process-wide already), shared by every stack collector so a process's
   * maps and its libraries are read and parsed once however many jobs need
   * them. Used on the event-loop thread only. A session without one makes
   * its own.
   */
  symbolizer?: Symbolizer;
}

export interface StartOptions<Params> {
  params: Params;
  filters: Filters;
  host: HostContext;
  /** Overrides of map sizes (max_entries) by map name; tests use it to force loss. */
  mapEntries?: Record<string, number>;
}

export interface DrainResult<Row> {
  rows: Row[];
  /** events or increments lost since the previous drain, counted by the kernel side */
  lost: number;
  /** the same loss by cause ("ring buffer full", "rate limit", ...), when there are several */
  lostDetail?: Record<string, number>;
  /**
   * increments that did not fit the per-process maps and were kept in a
   * coarser row instead (per uid, comm and key; pid 0): not lost, less detailed
   */
  coarsened?: number;
}

export interface DutyCycleControl {
  /**
   * Detaches (false) or re-attaches (true) the programs, keeping maps and
   * aggregates. Before attaching it marks the attach time in the kernel so
   * that start times taken before it are not paired with events after it.
   * Runs on the caller's thread; attach and detach are synchronous syscalls.
   */
  setAttached(attached: boolean): void;
  attached(): boolean;
  /**
   * True when a cheaper program counts every event while the others are
   * detached (syscalls): counts stay exact and rows are not weighted by
   * 1 / fraction; only what the detached programs measure (latency) is sampled.
   */
  readonly countsWhileDetached?: boolean;
  /**
   * Turns counting while detached off (the agent's last step before
   * throttling a job whose budget it does not fit: rows are weighted again)
   * or back on. Present where countsWhileDetached can be true.
   */
  setCounting?(on: boolean): void;
}

export interface CollectorSession<Row> {
  /**
   * Returns what was collected since the previous drain. Must not lose an
   * increment that happens while it runs. Callers never overlap drains.
   */
  drain(): Promise<DrainResult<Row>>;
  /** Cumulative run time of the kernel programs (needs a RunTimeStats handle open). */
  programStats(): ProgramStats[];
  /** Replaces the kernel-side filter while attached (shared instances). */
  setKernelFilter(filter: KernelFilter): void;
  /**
   * Lowers the collector's cost when it is over an overhead budget (a lower
   * sampling rate, a tighter event rate). Returns a description of what it
   * did, or undefined when it cannot lower its cost any further.
   */
  degrade?(): string | undefined;
  /**
   * Present on collectors whose hooks cost every event of the host whatever
   * the filters (raw syscall tracepoints, sched_switch): the agent keeps them
   * within a budget by attaching them for a fraction of each period and
   * weighting their rows by 1 / fraction.
   */
  readonly dutyCycle?: DutyCycleControl;
  /**
   * What the session does not collect on this host although asked to (a
   * kernel or hardware feature missing), one sentence each: reported with the
   * run, never skipped silently.
   */
  readonly notes?: readonly string[];
  /** Detaches and frees the kernel side. Idempotent. */
  close(): Promise<void>;
}

export interface CollectorDefinition<Params = unknown, Row = unknown> {
  readonly name: string;
  readonly description: string;
  /** kernel features without which the collector cannot run */
  readonly requires: readonly KernelFeature[];
  /**
   * Filters of which at least one must be set, and why. Checked where a job
   * is accepted (the controller's API, the local `trace` command) so that a
   * job that would fail on every host is refused up front.
   */
  readonly needsFilter?: NeededFilter;
  /** Validates raw parameters; errors name the field as `${field}.<param>`. */
  parseParams(raw: Record<string, unknown>, field: string): Params;
  start(opts: StartOptions<Params>): Promise<CollectorSession<Row>>;
  /** A terminal table of rows from one or more drains, for `fleettrace trace`. */
  summarize?(rows: Row[], opts: SummaryOptions): SummaryTable;
  /** Folded-stack lines (`frame;frame;... weight`) for collectors with stacks. */
  folded?(rows: Row[]): string[];
  /** A pprof profile of the rows, for collectors with stacks. */
  pprof?(rows: Row[], opts: { durationNs: number }): PprofProfile;
}

export interface SummaryOptions {
  /** one line per process instead of one per kind */
  perProcess: boolean;
  /** lines to show */
  top: number;
  /** column to sort by, collector-specific (syscalls: calls, time, errors) */
  sort: string;
}

export interface SummaryTable {
  headers: string[];
  rows: Array<Array<string | number>>;
  /** lines cut by `top` */
  omitted: number;
  /** footnotes: what the data cannot show, with how much of it is affected */
  notes?: string[];
}
