// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Frame, stackHash } from '../src/index';

function frame(text: string, kernel = false, address = 0x1000n): Frame {
  return { address, module: 'm', text, kernel };
}

test('the id is the first 16 hex chars of sha256 over the frames text', () => {
  // printf 'a\n--\nb' | sha256sum
  assert.equal(stackHash([frame('a', true)], [frame('b')]), 'eadd790378af05c1');
  // printf -- '--' | sha256sum
  assert.equal(stackHash([], []), 'd8156bae0c4243d3');
});

test('the id depends on the text only, and on which side of the separator a frame is', () => {
  const kernel = [frame('vfs_read+0x10 (kernel)', true)];
  const user = [frame('read+0x4 (libc.so.6)'), frame('main+0x20 (prog)')];
  const moved = [frame('read+0x4 (libc.so.6)', false, 0x7f0000001234n), user[1] as Frame];
  assert.equal(stackHash(kernel, user), stackHash(kernel, moved));
  assert.notEqual(
    stackHash(kernel, user),
    stackHash([...kernel, user[0] as Frame], [user[1] as Frame]),
  );
  assert.notEqual(stackHash(kernel, user), stackHash(kernel, [...user].reverse()));
  assert.match(stackHash(kernel, user), /^[0-9a-f]{16}$/);
});
