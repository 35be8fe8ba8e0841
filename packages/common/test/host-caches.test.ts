// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's copies of the host's users and cgroups show in memoryCaches
 * (/metrics) with their size, and a shrink (the memory governor) drops them,
 * counted as evictions; the next lookup reads them again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CgroupPaths, memoryCaches, UserNames } from '../src/index';

const figure = (name: string) => memoryCaches.figures().find((f) => f.name === name);

test('users: a copy of the passwd file in /metrics, dropped by a shrink and read again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ft-users-'));
  try {
    const passwd = join(dir, 'passwd');
    const lines = Array.from(
      { length: 1000 },
      (_, i) => `customer${i}:x:${20000 + i}:100::/home:/bin/sh`,
    );
    writeFileSync(passwd, `${lines.join('\n')}\n`);
    const before = figure('users')?.entries ?? 0;
    const users = new UserNames(passwd);
    assert.equal(users.name(20007), 'customer7');
    const f = users.figures();
    assert.equal(f.entries, 1000);
    assert.ok(f.bytes >= 1000 * 64, `${f.bytes} bytes`);
    assert.ok((figure('users')?.entries ?? 0) >= before + 1000, 'registered with memoryCaches');
    users.shrink(0.5);
    assert.equal(users.figures().entries, 0);
    assert.equal(users.figures().evictions, 1000);
    assert.equal(users.name(20999), 'customer999', 'read again after the shrink');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cgroups: the scanned tree in /metrics, dropped by a shrink', () => {
  const paths = new CgroupPaths();
  paths.path(123456789n); // a miss scans the tree
  const f = paths.figures();
  assert.equal(f.name, 'cgroups');
  assert.ok(f.entries >= 1 && f.bytes > 0, `${f.entries} entries, ${f.bytes} bytes`);
  paths.shrink(0);
  assert.equal(paths.figures().entries, 0);
  assert.equal(paths.figures().evictions, f.entries);
});
