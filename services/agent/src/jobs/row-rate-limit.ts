// SPDX-License-Identifier: Apache-2.0
/**
 * A job's limits.max_events_per_second: a token bucket of rows per second
 * for one run, across its collectors. It holds at most one drain interval's
 * allowance (at least one second's), so a run drained every 5 s may send
 * 5 x the limit in one batch but never more than the limit on average.
 * Rows beyond it are dropped by the caller and counted as lost.
 */
export class RowRateLimit {
  private tokens: number;
  private last: number;
  private readonly capacity: number;

  /** Runs on the main thread, like the run that owns it. */
  constructor(
    readonly perSecond: number,
    intervalMs: number,
    now = Date.now(),
  ) {
    if (!Number.isInteger(perSecond) || perSecond <= 0)
      throw new RangeError(`max_events_per_second must be a positive integer, got ${perSecond}`);
    this.capacity = perSecond * Math.max(1, intervalMs / 1000);
    this.tokens = this.capacity;
    this.last = now;
  }

  /** How many of `rows` may be sent now; the caller drops the rest. */
  take(rows: number, now = Date.now()): number {
    this.tokens = Math.min(
      this.capacity,
      this.tokens + (Math.max(0, now - this.last) / 1000) * this.perSecond,
    );
    this.last = now;
    const allowed = Math.min(rows, Math.floor(this.tokens));
    this.tokens -= allowed;
    return allowed;
  }
}
