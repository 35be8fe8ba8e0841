// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSecret } from '../src/secret-flags';
import { written } from './output-capture';

const FLAG = { flag: 'token', env: 'FLEETTRACE_TEST_SECRET' };

test('a secret on the command line is taken with a warning naming the file and env forms', async () => {
  const r = await written(process.stderr, () => readSecret({ token: 'ftapi.x' }, FLAG));
  assert.equal(r.result, 'ftapi.x');
  assert.match(
    r.text,
    /^fleettrace: warning: --token on the command line can be read by every local user \(\/proc\/<pid>\/cmdline\); use --token-file FILE \(mode 0600\) or \$FLEETTRACE_TEST_SECRET\n$/,
  );
});

test('a token file is read (one trailing newline dropped); a group-readable one draws a warning', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-secret-'));
  try {
    const file = join(dir, 'token');
    writeFileSync(file, 'ftapi.secret\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    const quiet = await written(process.stderr, () => readSecret({ 'token-file': file }, FLAG));
    assert.deepEqual(quiet, { result: 'ftapi.secret', text: '' });
    chmodSync(file, 0o644);
    const loud = await written(process.stderr, () => readSecret({ 'token-file': file }, FLAG));
    assert.equal(loud.result, 'ftapi.secret');
    assert.match(loud.text, /can be read by other local users \(mode 0644\): chmod 600 /);
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

test('the environment is read last and silently', async () => {
  process.env.FLEETTRACE_TEST_SECRET = 'from-env';
  try {
    assert.deepEqual(await written(process.stderr, () => readSecret({}, FLAG)), {
      result: 'from-env',
      text: '',
    });
  } finally {
    delete process.env.FLEETTRACE_TEST_SECRET;
  }
  assert.equal(readSecret({}, FLAG), undefined);
});
