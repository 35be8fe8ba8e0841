// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeSecuredDataDir, secureDataDir } from '../src/index';

const modeOf = (p: string) => statSync(p).mode & 0o7777;

test('secureDataDir makes an existing tree owner-only and sets the umask', () => {
  const previousUmask = process.umask();
  const outside = mkdtempSync(join(tmpdir(), 'fleettrace-outside-'));
  const root = mkdtempSync(join(tmpdir(), 'fleettrace-data-'));
  try {
    const target = join(outside, 'not-ours');
    writeFileSync(target, 'x');
    chmodSync(target, 0o644);
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'ingest', 'chdb', 'sensitive'), { recursive: true });
    for (const d of ['ingest', 'ingest/chdb', 'ingest/chdb/sensitive'])
      chmodSync(join(root, d), 0o755);
    const files: Array<[string, number, number]> = [
      ['controller.db', 0o644, 0o600],
      ['ingest/chdb/sensitive/data.bin', 0o644, 0o600],
      ['ingest/chdb/sensitive/columns.txt', 0o664, 0o600],
      ['agent-helper', 0o755, 0o700],
      ['key.pem', 0o400, 0o400],
      ['already.json', 0o600, 0o600],
    ];
    for (const [name, mode] of files) {
      writeFileSync(join(root, name), 'x');
      chmodSync(join(root, name), mode);
    }
    symlinkSync(target, join(root, 'link'));

    const r = secureDataDir(root);

    assert.equal(process.umask(), 0o077, 'the umask is owner-only');
    for (const [name, , expected] of files)
      assert.equal(modeOf(join(root, name)), expected, `${name}: 0${expected.toString(8)}`);
    for (const d of ['', 'ingest', 'ingest/chdb', 'ingest/chdb/sensitive'])
      assert.equal(modeOf(join(root, d)), 0o700, `${d || '.'} is 0700`);
    assert.equal(modeOf(target), 0o644, 'a symlink target outside the directory is left alone');
    // root, 3 directories, 6 files (the symlink is skipped)
    assert.equal(r.checked, 10);
    assert.equal(r.fixed, 8, 'root, 3 directories and 4 files changed');
    assert.deepEqual(r.failed, []);
    assert.equal(
      describeSecuredDataDir(r),
      `data directory ${root}: 8 of 10 entries made owner-only`,
    );

    const again = secureDataDir(root);
    assert.equal(again.fixed, 0, 'a second walk has nothing to change');

    writeFileSync(join(root, 'new-file'), 'x');
    mkdirSync(join(root, 'new-dir'));
    assert.equal(modeOf(join(root, 'new-file')), 0o600, 'created under the umask');
    assert.equal(modeOf(join(root, 'new-dir')), 0o700);
  } finally {
    process.umask(previousUmask);
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

test('secureDataDir creates a missing directory 0700', () => {
  const previousUmask = process.umask(0o022);
  const parent = mkdtempSync(join(tmpdir(), 'fleettrace-data-'));
  try {
    const dir = join(parent, 'a', 'b');
    const r = secureDataDir(dir);
    assert.equal(modeOf(dir), 0o700);
    assert.equal(r.checked, 1);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    process.umask(previousUmask);
    rmSync(parent, { recursive: true, force: true });
  }
});
