// SPDX-License-Identifier: Apache-2.0
/**
 * One kernel instance per collector per host. Jobs subscribe to a collector
 * with their own filters and intervals; the first subscriber loads and
 * attaches it, the last one to leave detaches it. The instance drains at the
 * shortest interval among its subscribers and hands each subscriber the rows
 * that match its filters exactly (the kernel runs with the union of them).
 *
 * Every period (1 s) the host also:
 *  - measures the instances' kernel cost with BPF run-time statistics turned
 *    on for a short window only (statistics add two clock reads to every
 *    program run, as much as a small program itself, so leaving them on would
 *    be the largest cost of an always-on job), and extrapolates the window to
 *    the period; an instance that keeps a count-only program attached while
 *    detached has a second window in its detached part, charged for the
 *    detached time (that program runs on every event of the host too);
 *  - duty-cycles the instances that allow it: attached for the first
 *    `fraction` of the period, detached for the rest; the fraction is the
 *    smallest any subscriber asked for, and rows collected under it carry the
 *    weight 1 / fraction.
 */
import {
  kernelFilterFor,
  rowMatches,
  type CollectorDefinition,
  type CollectorSession,
  type DrainResult,
  type Filters,
  type HostContext,
  type RowIdentity,
} from '@fleettrace/collectors';
import { RunTimeStats } from '@fleettrace/native';

/**
 * The process's CPU time, µs. Attaching is synchronous on the main thread and
 * lasts milliseconds: what other threads do meanwhile is small beside it.
 */
const ownCpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export interface SubscriptionOptions {
  collector: CollectorDefinition;
  /** parsed parameters; the instance keeps those of its first subscriber */
  params: unknown;
  filters: Filters;
  intervalMs: number;
  /**
   * called with this subscriber's rows every intervalMs (and once more at
   * unsubscribe); `dutyFraction` is the share of the time the instance was
   * attached while they were collected (1 when it is not duty-cycled)
   */
  onData(result: DrainResult<unknown>, dutyFraction: number): void;
  /** a drain failed; the subscription stays, the next drain retries */
  onError(err: Error): void;
}

interface Subscriber extends SubscriptionOptions {
  id: number;
  /** unsubscribing: still gets rows until its final drain, then removed */
  leaving: boolean;
  rows: unknown[];
  /** the duty fraction `rows` were collected under */
  rowsFraction: number;
  lost: number;
  lostDetail: Record<string, number>;
  lastDelivery: number;
  /** the duty fraction this subscriber asks for (1 = always attached) */
  fraction: number;
}

/**
 * Cumulative kernel cost of an instance, estimated from BPF_ENABLE_STATS
 * run-time statistics sampled for a window of each period (see the top).
 */
export interface InstanceCost {
  runTimeNs: number;
  runCount: number;
}

const addCost = (a: InstanceCost, rate: InstanceCost, ms: number): InstanceCost => ({
  runTimeNs: a.runTimeNs + rate.runTimeNs * ms,
  runCount: a.runCount + rate.runCount * ms,
});

/** Statistics on for a while: `open` when they are, `close` just before they go off. */
type StatsWindow = (open: () => void, close: () => void) => void;

/**
 * Length of the duty period. Attaching one tracepoint program takes 7-25 ms
 * of this thread (the kernel patches the call site on every CPU), and the
 * default job re-attaches six each period when it is duty-cycled: 10 s keeps
 * that near 0.5% of a CPU.
 */
export const DUTY_PERIOD_MS = 10_000;
/**
 * Run-time statistics are on for STATS_WINDOW_MS at the start of one period
 * in STATS_EVERY (while they are on every program run pays ~2 clock reads).
 */
const STATS_WINDOW_MS = 100;
const STATS_EVERY = 1;
/** The detached part's window opens this long after the detach (the hand-over is done). */
const COUNTING_WINDOW_DELAY_MS = 50;

/** A statistics window in progress: raw counters when it opened. */
interface Window {
  start: InstanceCost;
  openedAt: number;
  closedAt?: number;
}

class Instance {
  readonly subscribers = new Map<number, Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> = Promise.resolve();
  /** estimated cumulative cost (see InstanceCost) */
  private estimated: InstanceCost = { runTimeNs: 0, runCount: 0 };
  /** cost per attached millisecond, from the latest statistics window */
  private rate: InstanceCost | undefined;
  /** the statistics window in progress: raw counters and times */
  private window: Window | undefined;
  /**
   * The count-only program (DutyCycleControl.countsWhileDetached) while the
   * others are detached: its cost per millisecond from the latest window in
   * the detached part, when it started counting (undefined while it is not),
   * its counting time not yet charged, its estimated cumulative cost (apart
   * from `estimated`, which is the attached programs'), and its window in
   * progress.
   */
  private countingRate: InstanceCost | undefined;
  private countingAt: number | undefined;
  private countingSincePeriod = 0;
  private estimatedCounting: InstanceCost = { runTimeNs: 0, runCount: 0 };
  private countingWindow: Window | undefined;
  /** a window in the detached part is scheduled */
  private countingWindowDue = false;
  private closed = false;
  /** the fraction asked for in the current period */
  appliedFraction = 1;
  /** when the programs were last fully attached; undefined while detached */
  private attachedAt: number | undefined = Date.now();
  /** attached milliseconds since the previous period, not yet charged */
  private attachedSincePeriod = 0;
  private detachTimer: NodeJS.Timeout | undefined;
  /** the latest attach + detach pair's CPU, µs (what one duty-cycled period costs the agent) */
  switchPairUs: number | undefined;
  private lastAttachUs = 0;
  /** cost of sessions this collector had before (an instance closed and reopened) is not carried over */
  constructor(
    readonly collector: CollectorDefinition,
    readonly session: CollectorSession<unknown>,
    readonly params: unknown,
    private readonly statsWindow: StatsWindow = () => undefined,
  ) {}

  /** Subscribers that are staying. */
  staying(): Subscriber[] {
    return [...this.subscribers.values()].filter((s) => !s.leaving);
  }

  tickMs(): number {
    return Math.min(...this.staying().map((s) => s.intervalMs));
  }

  reschedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.staying().length === 0) return;
    this.timer = setInterval(() => void this.drain(), this.tickMs());
  }

  /** The fraction subscribers ask for: the smallest, on instances that can be duty-cycled. */
  wantedFraction(): number {
    if (!this.session.dutyCycle) return 1;
    return Math.min(1, ...this.staying().map((s) => s.fraction));
  }

  /** Attached and counting time up to `now`, moved into attachedSincePeriod and countingSincePeriod. */
  private settleAttached(now: number): void {
    if (this.attachedAt !== undefined) {
      this.attachedSincePeriod += now - this.attachedAt;
      this.attachedAt = now;
    }
    if (this.countingAt !== undefined) {
      this.countingSincePeriod += now - this.countingAt;
      this.countingAt = now;
    }
  }

  /** Whether the count-only program runs now: detached, and counting while detached. */
  private countingNow(): boolean {
    return this.attachedAt === undefined && this.session.dutyCycle?.countsWhileDetached === true;
  }

  /** Follows the count-only program's state after a change (settled first). */
  private trackCounting(now: number): void {
    if (!this.countingNow()) {
      this.countingAt = undefined;
      return;
    }
    this.countingAt ??= now;
    if (this.countingWindowDue || this.countingWindow) return;
    this.countingWindowDue = true;
    const timer = setTimeout(() => {
      this.countingWindowDue = false;
      if (this.closed || !this.countingNow()) return;
      this.statsWindow(
        () => {
          if (this.countingNow())
            this.countingWindow = { start: this.rawCost(), openedAt: Date.now() };
        },
        () => {
          const w = this.countingWindow;
          this.countingWindow = undefined;
          if (w) this.countingRate = this.rateOf(w) ?? this.countingRate;
        },
      );
    }, COUNTING_WINDOW_DELAY_MS);
    timer.unref();
  }

  /** Turns counting while detached on or off (DutyCycleControl.setCounting). */
  setCounting(on: boolean): void {
    const duty = this.session.dutyCycle;
    if (!duty?.setCounting) return;
    const now = Date.now();
    this.settleAttached(now);
    // A window that saw both states measures neither.
    if (this.countingWindow) this.countingWindow.closedAt = now;
    duty.setCounting(on);
    this.trackCounting(now);
  }

  /**
   * Start of a period: charge the previous one at the latest measured rate,
   * attach, and schedule the detach when duty-cycled. Attach times are taken
   * after the attach returns (it takes milliseconds: the kernel registers
   * the tracepoint on every CPU), when every program runs.
   */
  beginPeriod(): void {
    const now = Date.now();
    this.settleAttached(now);
    if (this.rate) this.estimated = addCost(this.estimated, this.rate, this.attachedSincePeriod);
    if (this.countingRate)
      this.estimatedCounting = addCost(
        this.estimatedCounting,
        this.countingRate,
        this.countingSincePeriod,
      );
    this.attachedSincePeriod = 0;
    this.countingSincePeriod = 0;
    const duty = this.session.dutyCycle;
    if (!duty) return;
    if (this.detachTimer) clearTimeout(this.detachTimer);
    this.detachTimer = undefined;
    this.appliedFraction = this.wantedFraction();
    try {
      if (!duty.attached()) {
        const t0 = ownCpuUs();
        duty.setAttached(true);
        this.lastAttachUs = ownCpuUs() - t0;
        const at = Date.now();
        this.settleAttached(at);
        if (this.countingWindow) this.countingWindow.closedAt = at;
        this.attachedAt = at;
        this.trackCounting(at);
      }
      if (this.appliedFraction < 1) {
        this.detachTimer = setTimeout(
          () => this.detachNow(),
          Math.max(1, Math.round(this.appliedFraction * DUTY_PERIOD_MS)),
        );
      }
    } catch (err) {
      for (const s of this.subscribers.values()) s.onError(err as Error);
    }
  }

  private detachNow(): void {
    this.detachTimer = undefined;
    const now = Date.now();
    this.settleAttached(now);
    this.attachedAt = undefined;
    if (this.window && this.window.closedAt === undefined) this.window.closedAt = now;
    try {
      const t0 = ownCpuUs();
      this.session.dutyCycle?.setAttached(false);
      this.switchPairUs = this.lastAttachUs + ownCpuUs() - t0;
      this.trackCounting(Date.now());
    } catch (err) {
      for (const s of this.subscribers.values()) s.onError(err as Error);
    }
  }

  private rawCost(): InstanceCost {
    const stats = this.session.programStats();
    return {
      runTimeNs: stats.reduce((a, p) => a + p.runTimeNs, 0),
      runCount: stats.reduce((a, p) => a + p.runCount, 0),
    };
  }

  /** Statistics were just turned on (right after beginPeriod attached). */
  openWindow(): void {
    if (this.attachedAt === undefined) return;
    this.window = { start: this.rawCost(), openedAt: Date.now() };
  }

  /**
   * Statistics are about to be turned off: the runs and run time the window
   * saw, over the part of it the programs were attached, give the rate that
   * later periods are charged at.
   */
  closeWindow(): void {
    const w = this.window;
    this.window = undefined;
    if (w) this.rate = this.rateOf(w) ?? this.rate;
  }

  /** Cost per millisecond over the part of window `w` until it closed (now if it did not). */
  private rateOf(w: Window): InstanceCost | undefined {
    const end = this.rawCost();
    const ms = (w.closedAt ?? Date.now()) - w.openedAt;
    if (ms <= 0) return undefined;
    return {
      runTimeNs: Math.max(0, end.runTimeNs - w.start.runTimeNs) / ms,
      runCount: Math.max(0, end.runCount - w.start.runCount) / ms,
    };
  }

  refilter(skipPids: number[]): void {
    this.session.setKernelFilter({
      ...kernelFilterFor(this.staying().map((s) => s.filters)),
      skipPids,
    });
  }

  /**
   * Drains once (never two drains at a time) and delivers to subscribers whose
   * interval is up; `final` gets its last delivery and is removed.
   */
  drain(final?: Subscriber): Promise<void> {
    this.draining = this.draining.then(async () => {
      let result: DrainResult<unknown>;
      try {
        result = await this.session.drain();
      } catch (err) {
        for (const s of this.subscribers.values()) s.onError(err as Error);
        if (final) this.subscribers.delete(final.id);
        return;
      }
      const now = Date.now();
      // Attached exactly `appliedFraction` of the period (the detach is timed
      // from the moment every program is attached): rows weigh 1 / fraction,
      // but those of a session that counts while detached, which are whole.
      const fraction = this.session.dutyCycle?.countsWhileDetached ? 1 : this.appliedFraction;
      for (const s of this.subscribers.values()) {
        // Rows collected under another duty fraction go out first: one delivery, one weight.
        if (s.rows.length > 0 && s.rowsFraction !== fraction) this.deliver(s, now);
        if (s.rows.length === 0) s.rowsFraction = fraction;
        for (const row of result.rows)
          if (rowMatches(row as RowIdentity, s.filters)) s.rows.push(row);
        // Loss is the instance's: it cannot be told apart per subscriber, so each sees all of it.
        s.lost += result.lost;
        for (const [cause, n] of Object.entries(result.lostDetail ?? {})) {
          s.lostDetail[cause] = (s.lostDetail[cause] ?? 0) + n;
        }
        if (s === final || now - s.lastDelivery >= s.intervalMs - 5) this.deliver(s, now);
      }
      if (final) this.subscribers.delete(final.id);
    });
    return this.draining;
  }

  private deliver(s: Subscriber, now: number): void {
    const out: DrainResult<unknown> = { rows: s.rows, lost: s.lost, lostDetail: s.lostDetail };
    s.rows = [];
    s.lost = 0;
    s.lostDetail = {};
    s.lastDelivery = now;
    s.onData(out, s.rowsFraction);
  }

  /**
   * Charged periods plus the attached (and counting) time of the current
   * one, at the latest rates.
   */
  cost(): InstanceCost {
    const counting = this.countingCost();
    let cost = { ...this.estimated };
    if (this.rate) {
      const pending =
        this.attachedSincePeriod +
        (this.attachedAt !== undefined ? Date.now() - this.attachedAt : 0);
      cost = addCost(cost, this.rate, pending);
    }
    return {
      runTimeNs: cost.runTimeNs + counting.runTimeNs,
      runCount: cost.runCount + counting.runCount,
    };
  }

  /** The count-only program's share of cost(): what it cost while the others were detached. */
  countingCost(): InstanceCost {
    if (!this.countingRate) return { ...this.estimatedCounting };
    const pending =
      this.countingSincePeriod + (this.countingAt !== undefined ? Date.now() - this.countingAt : 0);
    return addCost(this.estimatedCounting, this.countingRate, pending);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.detachTimer) clearTimeout(this.detachTimer);
    this.detachTimer = undefined;
    await this.draining;
    await this.session.close();
  }
}

export interface SubscriptionHandle {
  /** Final drain for this subscriber, then leaves; the last subscriber detaches the instance. */
  unsubscribe(): Promise<void>;
  /** Lowers the instance's cost (shared by every subscriber); undefined when it cannot. */
  degrade(): string | undefined;
  /** Cumulative kernel cost of the instance this subscription uses. */
  cost(): InstanceCost;
  /**
   * The part of cost() its count-only program spent while the others were
   * detached (DutyCycleControl.countsWhileDetached): it does not shrink with
   * the duty fraction.
   */
  countingCost(): InstanceCost;
  /** Whether the instance can be duty-cycled. */
  readonly dutyCyclable: boolean;
  /** Whether it counts every event while detached now (its rows are not weighted). */
  countsWhileDetached(): boolean;
  /** Whether it can count while detached (setCountWhileDetached does something). */
  readonly canCountWhileDetached: boolean;
  /**
   * Turns counting while detached off or on; rows collected until now are
   * drained first, so each delivery has one weight.
   */
  setCountWhileDetached(on: boolean): Promise<void>;
  /** Asks for the instance to be attached this fraction of each period (from the next one). */
  setDutyFraction(fraction: number): void;
  /** The fraction in force now (the smallest any subscriber asked for). */
  dutyFraction(): number;
  /**
   * The agent's CPU for the instance's latest attach + detach pair, µs
   * (undefined before the first): the price of each duty-cycled period,
   * which a fraction of 1 does not pay.
   */
  switchPairUs(): number | undefined;
  /** What the instance does not collect on this host (CollectorSession.notes). */
  readonly notes: readonly string[];
  /** The collector's name. */
  readonly collector: string;
  /** The parameters the instance runs with (its first subscriber's). */
  readonly params: unknown;
}

export class CollectorHost {
  private readonly instances = new Map<string, Promise<Instance>>();
  private readonly ready = new Set<Instance>();
  private nextId = 1;
  private periodTimer: NodeJS.Timeout;
  private windowTimer: NodeJS.Timeout | undefined;
  /** run-time statistics, on while any window is open */
  private stats: RunTimeStats | undefined;
  private statsUsers = 0;
  private closed = false;
  /** windows in the detached part of instances, open or about to */
  private readonly countingTimers = new Set<NodeJS.Timeout>();
  private period = 0;

  /**
   * `skipPids`: processes no subscriber sees (the agent itself and the
   * processes it charges to its jobs): their cost is in the jobs' overhead.
   */
  constructor(
    private readonly host: HostContext,
    private readonly skipPids: number[] = [],
  ) {
    this.periodTimer = this.newPeriodTimer();
  }

  private newPeriodTimer(): NodeJS.Timeout {
    const t = setInterval(() => this.beginPeriod(), DUTY_PERIOD_MS);
    t.unref();
    return t;
  }

  /** A new instance has no cost figure yet: start a period (and a statistics window) now. */
  private restartPeriods(): void {
    if (this.windowTimer) return; // a window is open: the new instance waits for the next period
    clearInterval(this.periodTimer);
    this.period = 0;
    this.beginPeriod();
    this.periodTimer = this.newPeriodTimer();
  }

  private beginPeriod(): void {
    if (this.ready.size === 0) return;
    for (const i of this.ready) i.beginPeriod();
    if (this.period++ % STATS_EVERY !== 0) return;
    if (!this.acquireStats()) return;
    for (const i of this.ready) i.openWindow();
    this.windowTimer = setTimeout(() => {
      this.windowTimer = undefined;
      for (const i of this.ready) i.closeWindow();
      this.releaseStats();
    }, STATS_WINDOW_MS);
  }

  /** Turns statistics on (shared by the windows open at once); false when they cannot be. */
  private acquireStats(): boolean {
    if (!this.stats) {
      try {
        this.stats = new RunTimeStats();
      } catch {
        // Without CAP_SYS_ADMIN there are no statistics: costs stay at what was measured.
        return false;
      }
    }
    this.statsUsers++;
    return true;
  }

  private releaseStats(): void {
    if (--this.statsUsers > 0) return;
    this.statsUsers = 0;
    this.stats?.close();
    this.stats = undefined;
  }

  /** A window of STATS_WINDOW_MS for one instance (its detached part). */
  private readonly statsWindow: StatsWindow = (open, close) => {
    if (this.closed || !this.acquireStats()) return;
    open();
    const t = setTimeout(() => {
      this.countingTimers.delete(t);
      close();
      this.releaseStats();
    }, STATS_WINDOW_MS);
    this.countingTimers.add(t);
  };

  /** Names of collectors with a kernel instance loaded now. */
  active(): string[] {
    return [...this.instances.keys()];
  }

  async subscribe(opts: SubscriptionOptions): Promise<SubscriptionHandle> {
    const name = opts.collector.name;
    let pending = this.instances.get(name);
    if (!pending) {
      pending = opts.collector
        .start({ params: opts.params, filters: opts.filters, host: this.host })
        .then((session) => {
          const instance = new Instance(opts.collector, session, opts.params, this.statsWindow);
          this.ready.add(instance);
          this.restartPeriods();
          return instance;
        });
      this.instances.set(name, pending);
      pending.catch(() => this.instances.delete(name));
    }
    const instance = await pending;
    const sub: Subscriber = {
      ...opts,
      id: this.nextId++,
      leaving: false,
      rows: [],
      rowsFraction: instance.appliedFraction,
      lost: 0,
      lostDetail: {},
      lastDelivery: Date.now(),
      fraction: 1,
    };
    instance.subscribers.set(sub.id, sub);
    instance.refilter(this.skipPids);
    instance.reschedule();
    return {
      params: instance.params,
      collector: name,
      degrade: () => instance.session.degrade?.(),
      notes: instance.session.notes ?? [],
      cost: () => instance.cost(),
      countingCost: () => instance.countingCost(),
      dutyCyclable: instance.session.dutyCycle !== undefined,
      countsWhileDetached: () => instance.session.dutyCycle?.countsWhileDetached === true,
      canCountWhileDetached: instance.session.dutyCycle?.setCounting !== undefined,
      setCountWhileDetached: async (on) => {
        const duty = instance.session.dutyCycle;
        if (!duty?.setCounting || duty.countsWhileDetached === on) return;
        await instance.drain();
        instance.setCounting(on);
      },
      setDutyFraction: (fraction) => {
        sub.fraction = Math.min(1, Math.max(0, fraction));
      },
      dutyFraction: () => instance.appliedFraction,
      switchPairUs: () => instance.switchPairUs,
      unsubscribe: async () => {
        if (sub.leaving || !instance.subscribers.has(sub.id)) return;
        sub.leaving = true;
        await instance.drain(sub);
        if (instance.subscribers.size === 0 && this.instances.get(name) === pending) {
          this.instances.delete(name);
          this.ready.delete(instance);
          await instance.close();
        } else {
          instance.refilter(this.skipPids);
          instance.reschedule();
        }
      },
    };
  }

  /** Detaches everything. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.periodTimer);
    if (this.windowTimer) clearTimeout(this.windowTimer);
    for (const t of this.countingTimers) clearTimeout(t);
    this.countingTimers.clear();
    this.stats?.close();
    this.stats = undefined;
    this.statsUsers = 0;
    this.ready.clear();
    const all = [...this.instances.values()];
    this.instances.clear();
    for (const p of all) {
      try {
        await (await p).close();
      } catch {
        // an instance that failed to start has nothing to close
      }
    }
  }
}
