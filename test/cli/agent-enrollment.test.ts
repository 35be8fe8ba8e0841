// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace agent` refused at enrollment: one line saying why, a non-zero
 * exit, no stack (it used to die on a TypeError: gRPC error codes are numbers).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

const CLI = resolve(__dirname, '../../../bin/fleettrace');

/** Runs the CLI to its end: exit code and output. */
async function run(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe('fleettrace agent with a bad bootstrap token', () => {
  let controller: ChildProcess;
  let enroll = '';
  let caHash = '';
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-cli-enroll-'));

  before(async () => {
    controller = spawn(
      CLI,
      [
        'controller',
        '--data',
        join(dir, 'controller'),
        '--listen',
        '127.0.0.1:0',
        '--enroll-listen',
        '127.0.0.1:0',
        '--control-listen',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    await new Promise<void>((ready, fail) => {
      controller.stdout!.on('data', (d) => {
        out += d;
        if (/ca\s+sha256-[0-9a-f]{64}/.test(out)) ready();
      });
      controller.once('exit', (code) => fail(new Error(`controller exited ${code}`)));
    });
    enroll = /enroll\s+(\S+)/.exec(out)![1]!;
    caHash = /ca\s+(sha256-[0-9a-f]{64})/.exec(out)![1]!;
  });
  after(async () => {
    if (controller.exitCode === null) {
      controller.kill('SIGTERM');
      await once(controller, 'exit');
    }
  });

  test('an unknown token: the reason in one line and exit status 1', async () => {
    // Well formed and for this controller's CA, so the controller itself refuses it.
    const tokenFile = join(dir, 'boot.token');
    writeFileSync(tokenFile, `ftboot.0123456789ab.${'x'.repeat(32)}.${caHash}\n`, { mode: 0o600 });
    const r = await run([
      'agent',
      '--controller',
      enroll,
      '--token-file',
      tokenFile,
      '--state',
      join(dir, 'agent'),
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^fleettrace: enrollment refused by the controller at 127\.0\.0\.1:\d+: unknown bootstrap token \(a new one: `fleettrace token create --bootstrap` on the controller\)$/m,
    );
    assert.doesNotMatch(r.stderr, /TypeError|at .*\.js:\d+/);
  });

  test('a token given on the command line still works, with a warning', async () => {
    const r = await run([
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
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /fleettrace: warning: --token on the command line can be read by every local user .*--token-file FILE .*\$FLEETTRACE_BOOTSTRAP_TOKEN/,
    );
    assert.match(r.stderr, /enrollment refused by the controller .*unknown bootstrap token/);
  });
});
