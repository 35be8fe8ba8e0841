// SPDX-License-Identifier: Apache-2.0
/**
 * The profiles package's offcpu states (the `state` a profile selection
 * filters on) are the offcpu collector's: its manifest's `states` parameter
 * takes each, and names exactly these when it refuses another.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manifests } from '@fleettrace/collectors/manifests';
import { BLOCKED_STATES, PROFILE_COLLECTORS } from '@fleettrace/profiles';

test("profile selections filter on the offcpu collector's blocked states", () => {
  const offcpu = manifests().get('offcpu');
  assert.ok(offcpu?.params, 'the offcpu manifest has parameters');
  for (const state of BLOCKED_STATES)
    assert.ok(offcpu.params.safeParse({ states: state }).success, state);
  const refused = offcpu.params.safeParse({ states: 'not_a_state' });
  assert.equal(refused.success, false);
  assert.match(
    refused.error?.issues[0]?.message ?? '',
    new RegExp(`must be one of ${BLOCKED_STATES.join(', ')}$`),
  );
});

test('profile collectors are registered collectors with stacks', () => {
  for (const name of PROFILE_COLLECTORS) {
    const m = manifests().get(name);
    assert.ok(m, name);
    const columns = JSON.stringify(m);
    assert.match(columns, /stack_id/, `${name} has a stack_id column`);
  }
});
