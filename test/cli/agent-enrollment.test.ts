// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace agent` refused at enrollment: one line saying why, a non-zero
 * exit, no stack (it used to die on a TypeError: gRPC error codes are numbers).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, startController, stopCli } from '../harness/cli-process';

describe('fleettrace agent with a bad bootstrap token', () => {
  let controller: ChildProcess;
  let enroll = '';
  let caHash = '';
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-cli-enroll-'));

  before(async () => {
    const started = await startController(['--data', join(dir, 'controller')]);
    controller = started.child;
    enroll = started.enroll;
    caHash = started.caHash;
  });
  after(() => stopCli(controller));

  test('an unknown token: the reason in one line and exit status 1', () => {
    // Well formed and for this controller's CA, so the controller itself refuses it.
    const tokenFile = join(dir, 'boot.token');
    writeFileSync(tokenFile, `ftboot.0123456789ab.${'x'.repeat(32)}.${caHash}\n`, { mode: 0o600 });
    const r = cli([
      'agent',
      '--controller',
      enroll,
      '--token-file',
      tokenFile,
      '--state',
      join(dir, 'agent'),
    ]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^fleettrace: enrollment refused by the controller at 127\.0\.0\.1:\d+: unknown bootstrap token \(a new one: `fleettrace token create --bootstrap` on the controller\)$/m,
    );
    assert.doesNotMatch(r.stderr, /TypeError|at .*\.js:\d+/);
  });

  test('a token given on the command line still works, with a warning', () => {
    const r = cli([
      'agent',
      '--controller',
      enroll,
      '--token',
      `ftboot.0123456789ab.${'y'.repeat(32)}.${caHash}`,
      '--state',
      join(dir, 'agent-argv'),
      '--simulate',
      '1',
    ]);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /fleettrace: warning: --token on the command line can be read by every local user .*--token-file FILE .*\$FLEETTRACE_BOOTSTRAP_TOKEN/,
    );
    assert.match(r.stderr, /enrollment refused by the controller .*unknown bootstrap token/);
  });
});
