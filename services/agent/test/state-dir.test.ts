// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { StateDir, StateDirError } from '../src/state-dir';

const dir = () => mkdtempSync(join(tmpdir(), 'fleettrace-state-'));

describe('state directory', () => {
  test('one agent per directory: a live owner is named, a stale lock is taken over', async () => {
    const d = dir();
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(d, 'agent.lock'), `${sleeper.pid}\n`);
      assert.throws(
        () => StateDir.open(d),
        (e: Error) => {
          assert.ok(e instanceof StateDirError);
          assert.match(
            e.message,
            new RegExp(
              `another fleettrace agent \\(pid ${sleeper.pid}\\) is running with state directory ${d}`,
            ),
          );
          return true;
        },
      );
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
    const s = StateDir.open(d);
    assert.equal(readFileSync(join(d, 'agent.lock'), 'utf8').trim(), String(process.pid));
    s.close();
    assert.throws(() => readFileSync(join(d, 'agent.lock')), /ENOENT/);
  });

  test('key and certificate are stored together, 0600, and read back', () => {
    const s = StateDir.open(dir());
    const certPem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const keyPem = '-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n';
    s.writeCredentials({ certPem, keyPem });
    assert.deepEqual(s.readCredentials(), { certPem, keyPem });
    assert.equal(statSync(join(s.dir, 'client.pem')).mode & 0o777, 0o600);
    assert.equal(s.hasIdentity(), false, 'no identity until identity.json and ca.pem exist too');
    s.close();
  });
});
