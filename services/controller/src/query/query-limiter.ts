// SPDX-License-Identifier: Apache-2.0
/**
 * Per-token fairness for the SQL API: one token (one customer's script, one
 * dashboard) may run at most `concurrent` queries at once and start at most
 * `perMinute` a minute (a token bucket refilled continuously), so it cannot
 * take every query lane of the store or flood the audit log. Refusals say
 * which limit and when to try again.
 */
export interface QueryLimits {
  /** queries of one token running at once (default 2) */
  concurrent?: number;
  /** queries one token may start per minute (default 120) */
  perMinute?: number;
}

export class QueryLimitError extends Error {
  readonly code = 'QUERY_LIMITED';
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = 'QueryLimitError';
  }
}

interface TokenState {
  running: number;
  tokens: number;
  at: number;
}

export class QueryLimiter {
  private readonly state = new Map<string, TokenState>();
  private readonly concurrent: number;
  private readonly perMinute: number;

  constructor(
    limits: QueryLimits = {},
    private readonly now: () => number = Date.now,
  ) {
    this.concurrent = limits.concurrent ?? 2;
    this.perMinute = limits.perMinute ?? 120;
  }

  /** Takes a slot for `tokenId` or throws QueryLimitError; call the returned release when done. */
  acquire(tokenId: string): () => void {
    const now = this.now();
    if (this.state.size > 10_000) this.forgetIdle(now);
    const s = this.state.get(tokenId) ?? { running: 0, tokens: this.perMinute, at: now };
    s.tokens = Math.min(this.perMinute, s.tokens + ((now - s.at) / 60_000) * this.perMinute);
    s.at = now;
    if (s.running >= this.concurrent)
      throw new QueryLimitError(
        `this token already runs ${s.running} queries (at most ${this.concurrent} at once)`,
        1,
      );
    if (s.tokens < 1)
      throw new QueryLimitError(
        `this token started ${this.perMinute} queries in the last minute (at most ${this.perMinute})`,
        Math.ceil(((1 - s.tokens) / this.perMinute) * 60),
      );
    s.tokens -= 1;
    s.running++;
    this.state.set(tokenId, s);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      s.running--;
    };
  }

  /** Drops tokens with nothing running whose bucket has refilled: they start afresh anyway. */
  private forgetIdle(now: number): void {
    for (const [id, s] of this.state)
      if (s.running === 0 && s.tokens + ((now - s.at) / 60_000) * this.perMinute >= this.perMinute)
        this.state.delete(id);
  }
}
