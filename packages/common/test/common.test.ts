// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  errnoName,
  parseDuration,
  parseInteger,
  quantile,
  syscallName,
  ValidationError,
} from '../src/index';

test('syscall and errno names come from the UAPI headers', () => {
  assert.equal(syscallName(110), 'getppid');
  assert.equal(syscallName(257), 'openat');
  assert.equal(syscallName(9999), 'syscall_9999');
  assert.equal(errnoName(2), 'ENOENT');
  assert.equal(errnoName(11), 'EAGAIN');
  assert.equal(errnoName(4000), 'E4000');
});

test('durations parse with units and name the field when wrong', () => {
  assert.equal(parseDuration('d', '10s'), 10_000);
  assert.equal(parseDuration('d', '1m30s'), 90_000);
  assert.equal(parseDuration('d', '250ms'), 250);
  assert.throws(() => parseDuration('--duration', '10'), /--duration: must be a duration/);
  assert.throws(() => parseDuration('--duration', '-5s'), ValidationError);
  assert.throws(
    () => parseDuration('--duration', '0s', { minMs: 1 }),
    /--duration: must be between/,
  );
});

test('integers are checked against their range', () => {
  assert.equal(parseInteger('--pid', '42', 1, 100), 42);
  assert.throws(() => parseInteger('--pid', 'abc', 1, 100), /--pid: must be an integer/);
  assert.throws(() => parseInteger('--pid', 0, 1, 100), /--pid: must be between 1 and 100/);
});

test('quantiles interpolate inside log2 slots', () => {
  const hist = new Array(36).fill(0);
  hist[10] = 100; // [1024, 2048)
  assert.equal(quantile(hist, 0.5), 1536);
  assert.equal(quantile(hist, 1), 2048);
  hist[20] = 1; // one outlier
  assert.ok(quantile(hist, 0.99) < 2048);
  assert.ok(quantile(hist, 1) >= 2 ** 20);
  assert.equal(quantile(new Array(36).fill(0), 0.5), 0);
});
