// SPDX-License-Identifier: Apache-2.0
/** The KRaft cluster id never starts with "-", which the storage tool would take for an option. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newClusterId } from '../src/kafka-config';

test('a cluster id that would start with "-" is drawn again', () => {
  const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)];
  assert.ok(draws[0]!.toString('base64url').startsWith('-'), 'the first draw starts with -');
  const id = newClusterId(() => draws.shift()!);
  assert.equal(id, Buffer.alloc(16, 0x01).toString('base64url'));
  assert.equal(draws.length, 0);
  for (let i = 0; i < 2000; i++) assert.ok(!newClusterId().startsWith('-'));
});
