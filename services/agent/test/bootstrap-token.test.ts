// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseBootstrapToken } from '../src/bootstrap-token';
import { controlAddressFor } from '../src/enroll';

describe('bootstrap tokens', () => {
  test('parse into the part the controller redeems and the CA hash that never leaves the agent', () => {
    const hash = `sha256-${'0f'.repeat(32)}`;
    const t = parseBootstrapToken(`ftboot.0123456789ab.${'s'.repeat(43)}.${hash}`);
    assert.equal(t.id, '0123456789ab');
    assert.equal(t.redeemable, `0123456789ab.${'s'.repeat(43)}`);
    assert.equal(t.caHash, hash);
  });

  test('malformed tokens name the flag', () => {
    for (const bad of [
      '',
      'ftapi.0123456789ab.xxxxxxxxxxxxxxxxxxxxxxx',
      `ftboot.0123456789ab.${'s'.repeat(43)}`,
      `ftboot.0123456789ab.${'s'.repeat(43)}.sha256-00`,
    ])
      assert.throws(
        () => parseBootstrapToken(bad),
        /^ValidationError: --token: must be a bootstrap token|--token: must be a bootstrap token/,
      );
  });

  test('an unspecified advertised control host becomes the host the agent enrolled through', () => {
    assert.equal(controlAddressFor('0.0.0.0:7782', 'ctl.example:7781'), 'ctl.example:7782');
    assert.equal(controlAddressFor(':7782', '10.0.0.1:7781'), '10.0.0.1:7782');
    assert.equal(controlAddressFor('ctl-2.example:7782', 'ctl.example:7781'), 'ctl-2.example:7782');
  });
});
