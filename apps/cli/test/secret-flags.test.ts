// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSecret } from '../src/secret-flags';

/** readSecret's result and what it wrote on stderr. */
function withStderr(f: () => string | undefined): { secret: string | undefined; stderr: string } {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    return { secret: f(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

const FLAG = { flag: 'token', env: 'FLEETTRACE_TEST_SECRET' };

test('a secret on the command line is taken with a warning naming the file and env forms', () => {
  const r = withStderr(() => readSecret({ token: 'ftapi.x' }, FLAG));
  assert.equal(r.secret, 'ftapi.x');
  assert.match(
    r.stderr,
    /^fleettrace: warning: --token on the command line can be read by every local user \(\/proc\/<pid>\/cmdline\); use --token-file FILE \(mode 0600\) or \$FLEETTRACE_TEST_SECRET\n$/,
  );
});

test('a token file is read (one trailing newline dropped); a group-readable one draws a warning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-secret-'));
  try {
    const file = join(dir, 'token');
    writeFileSync(file, 'ftapi.secret\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    const quiet = withStderr(() => readSecret({ 'token-file': file }, FLAG));
    assert.deepEqual(quiet, { secret: 'ftapi.secret', stderr: '' });
    chmodSync(file, 0o644);
    const loud = withStderr(() => readSecret({ 'token-file': file }, FLAG));
    assert.equal(loud.secret, 'ftapi.secret');
    assert.match(loud.stderr, /can be read by other local users \(mode 0644\): chmod 600 /);
    assert.throws(
      () => readSecret({ token: 'a', 'token-file': file }, FLAG),
      /--token, --token-file: give one of them/,
    );
    assert.throws(
      () => readSecret({ 'token-file': join(dir, 'none') }, FLAG),
      /--token-file: ENOENT/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the environment is read last and silently', () => {
  process.env.FLEETTRACE_TEST_SECRET = 'from-env';
  try {
    assert.deepEqual(
      withStderr(() => readSecret({}, FLAG)),
      { secret: 'from-env', stderr: '' },
    );
  } finally {
    delete process.env.FLEETTRACE_TEST_SECRET;
  }
  assert.equal(readSecret({}, FLAG), undefined);
});
