// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { migrate, schemaVersion } from '../../src/store/store.service.js';
import { MIGRATIONS } from '../../src/store/migrations.js';

describe('store migrations', () => {
  test('apply once, in order, and are recorded', () => {
    const db = new Database(':memory:');
    assert.deepEqual(
      migrate(db, MIGRATIONS),
      MIGRATIONS.map((m) => m.version),
    );
    assert.deepEqual(migrate(db, MIGRATIONS), [], 'a second run applies nothing');
    assert.equal(schemaVersion(db), Math.max(...MIGRATIONS.map((m) => m.version)));
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
        name: string;
      }>
    ).map((t) => t.name);
    for (const t of [
      'agents',
      'certificates',
      'revocations',
      'api_tokens',
      'bootstrap_tokens',
      'jobs',
      'runs',
      'schedules',
      'audit',
    ])
      assert.ok(tables.includes(t), t);
  });

  test('a later migration is applied on top; a database newer than the code is refused', () => {
    const db = new Database(':memory:');
    migrate(db, MIGRATIONS);
    const next = {
      version: 999,
      description: 'test',
      sql: 'ALTER TABLE jobs ADD COLUMN note TEXT',
    };
    assert.deepEqual(migrate(db, [...MIGRATIONS, next]), [999]);
    assert.throws(
      () => migrate(db, MIGRATIONS),
      /schema version 999, newer than this controller knows/,
    );
  });

  test('a failing migration leaves nothing behind', () => {
    const db = new Database(':memory:');
    migrate(db, MIGRATIONS);
    const bad = {
      version: 1000,
      description: 'bad',
      sql: 'CREATE TABLE half (a INT); SELECT * FROM no_such_table;',
    };
    assert.throws(() => migrate(db, [...MIGRATIONS, bad]), /no such table/);
    assert.equal(schemaVersion(db), MIGRATIONS.length);
    assert.equal(
      db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'half'").get() &&
        (
          db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'half'").get() as {
            n: number;
          }
        ).n,
      0,
    );
  });
});
