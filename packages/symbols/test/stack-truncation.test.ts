// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Frame, isTruncatedUserStack } from '../src/index';

function named(symbol: string): Frame {
  return {
    address: 0x1000n,
    symbol,
    offset: 0n,
    module: 'm',
    text: `${symbol}+0x0 (m)`,
    kernel: false,
  };
}

const unresolved: Frame = { address: 0x2000n, module: 'm', text: 'm+0x2000', kernel: false };

test('stacks that reach where a thread starts are complete', () => {
  for (const bottom of [
    '_start',
    '__libc_start_main',
    '__libc_start_call_main',
    'start_thread',
    'clone',
    'clone3',
    '__clone',
    '__clone3',
  ])
    assert.equal(
      isTruncatedUserStack([named('work'), named('main'), named(bottom)], 127),
      false,
      bottom,
    );
});

test('stacks that stop early or fill the depth are truncated', () => {
  assert.equal(
    isTruncatedUserStack([named('work'), named('main')], 127),
    true,
    'main has a caller',
  );
  assert.equal(isTruncatedUserStack([named('work')], 127), true);
  assert.equal(isTruncatedUserStack([named('work'), unresolved], 127), true);
  assert.equal(isTruncatedUserStack([named('work'), named('main'), named('_start')], 3), true);
});

test('an empty user stack (a kernel thread) is not truncated', () => {
  assert.equal(isTruncatedUserStack([], 127), false);
});

test("a return into a symbol-less libc's start code ends a complete stack", () => {
  const inLibc = (symbol?: string): Frame => ({
    address: 0x2724an,
    ...(symbol ? { symbol, offset: 0n } : {}),
    module: 'libc.so.6',
    text: symbol ? `${symbol}+0x0 (libc.so.6)` : 'libc.so.6+0x2724a',
    kernel: false,
  });
  // main returning into __libc_start_call_main, which Debian's libc does not name
  assert.equal(isTruncatedUserStack([named('work'), named('main'), inLibc()], 127), false);
  // a thread function returning into start_thread, likewise unnamed
  assert.equal(isTruncatedUserStack([named('worker_thread'), inLibc()], 127), false);
  // inside libc without frame pointers, the chain stops in the caller's module: truncated
  assert.equal(isTruncatedUserStack([inLibc('read'), unresolved], 127), true);
  // the chain ended on an exported libc function that is not a stack bottom: truncated
  assert.equal(isTruncatedUserStack([named('work'), inLibc('memcpy')], 127), true);
});
