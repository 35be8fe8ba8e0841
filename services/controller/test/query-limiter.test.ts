// SPDX-License-Identifier: Apache-2.0
/** Per-token query limits: at most N at once, a bucket of M a minute refilled continuously. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryLimiter, QueryLimitError } from '../src/query/query-limiter.js';

test('a token runs at most 2 at once; others are not affected', () => {
  const limiter = new QueryLimiter({ concurrent: 2, perMinute: 100 });
  const a = limiter.acquire('t1');
  limiter.acquire('t1');
  assert.throws(
    () => limiter.acquire('t1'),
    (e: Error) => e instanceof QueryLimitError && /at most 2 at once/.test(e.message),
  );
  limiter.acquire('t2');
  a();
  a(); // a second release changes nothing
  limiter.acquire('t1');
  assert.throws(() => limiter.acquire('t1'), QueryLimitError);
});

test('a token starts at most perMinute a minute, refilled with time', () => {
  let now = 0;
  const limiter = new QueryLimiter({ concurrent: 100, perMinute: 3 }, () => now);
  for (let i = 0; i < 3; i++) limiter.acquire('t')();
  assert.throws(
    () => limiter.acquire('t'),
    (e: Error) =>
      e instanceof QueryLimitError &&
      /3 queries in the last minute/.test(e.message) &&
      e.retryAfterS === 20,
  );
  now += 20_000; // one more a third of a minute later
  limiter.acquire('t')();
  assert.throws(() => limiter.acquire('t'), QueryLimitError);
});
