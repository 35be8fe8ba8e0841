// SPDX-License-Identifier: Apache-2.0
/**
 * One kernel instance per collector per host. Jobs subscribe to a collector
 * with their own filters and intervals; the first subscriber loads and
 * attaches it, the last one to leave detaches it. The instance drains at the
 * shortest interval among its subscribers and hands each subscriber the rows
 * that match its filters exactly (the kernel runs with the union of them).
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

export interface SubscriptionOptions {
  collector: CollectorDefinition;
  /** parsed parameters; the instance keeps those of its first subscriber */
  params: unknown;
  filters: Filters;
  intervalMs: number;
  /** called with this subscriber's rows every intervalMs (and once more at unsubscribe) */
  onData(result: DrainResult<unknown>): void;
  /** a drain failed; the subscription stays, the next drain retries */
  onError(err: Error): void;
}

interface Subscriber extends SubscriptionOptions {
  id: number;
  /** unsubscribing: still gets rows until its final drain, then removed */
  leaving: boolean;
  rows: unknown[];
  lost: number;
  lostDetail: Record<string, number>;
  lastDelivery: number;
}

/** Cumulative kernel cost of an instance, from BPF_ENABLE_STATS run-time statistics. */
export interface InstanceCost {
  runTimeNs: number;
  runCount: number;
}

class Instance {
  readonly subscribers = new Map<number, Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> = Promise.resolve();
  /** cost of sessions this collector had before (an instance closed and reopened) is not carried over */
  constructor(
    readonly collector: CollectorDefinition,
    readonly session: CollectorSession<unknown>,
    readonly params: unknown,
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

  refilter(): void {
    this.session.setKernelFilter(kernelFilterFor(this.staying().map((s) => s.filters)));
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
      for (const s of this.subscribers.values()) {
        for (const row of result.rows)
          if (rowMatches(row as RowIdentity, s.filters)) s.rows.push(row);
        // Loss is the instance's: it cannot be told apart per subscriber, so each sees all of it.
        s.lost += result.lost;
        for (const [cause, n] of Object.entries(result.lostDetail ?? {})) {
          s.lostDetail[cause] = (s.lostDetail[cause] ?? 0) + n;
        }
        if (s === final || now - s.lastDelivery >= s.intervalMs - 5) {
          const out: DrainResult<unknown> = {
            rows: s.rows,
            lost: s.lost,
            lostDetail: s.lostDetail,
          };
          s.rows = [];
          s.lost = 0;
          s.lostDetail = {};
          s.lastDelivery = now;
          s.onData(out);
        }
      }
      if (final) this.subscribers.delete(final.id);
    });
    return this.draining;
  }

  cost(): InstanceCost {
    const stats = this.session.programStats();
    return {
      runTimeNs: stats.reduce((a, p) => a + p.runTimeNs, 0),
      runCount: stats.reduce((a, p) => a + p.runCount, 0),
    };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
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
  /** The parameters the instance runs with (its first subscriber's). */
  readonly params: unknown;
}

export class CollectorHost {
  private readonly instances = new Map<string, Promise<Instance>>();
  private nextId = 1;

  constructor(private readonly host: HostContext) {}

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
        .then((session) => new Instance(opts.collector, session, opts.params));
      this.instances.set(name, pending);
      pending.catch(() => this.instances.delete(name));
    }
    const instance = await pending;
    const sub: Subscriber = {
      ...opts,
      id: this.nextId++,
      leaving: false,
      rows: [],
      lost: 0,
      lostDetail: {},
      lastDelivery: Date.now(),
    };
    instance.subscribers.set(sub.id, sub);
    instance.refilter();
    instance.reschedule();
    return {
      params: instance.params,
      degrade: () => instance.session.degrade?.(),
      cost: () => instance.cost(),
      unsubscribe: async () => {
        if (sub.leaving || !instance.subscribers.has(sub.id)) return;
        sub.leaving = true;
        await instance.drain(sub);
        if (instance.subscribers.size === 0 && this.instances.get(name) === pending) {
          this.instances.delete(name);
          await instance.close();
        } else {
          instance.refilter();
          instance.reschedule();
        }
      },
    };
  }

  /** Detaches everything. */
  async close(): Promise<void> {
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
