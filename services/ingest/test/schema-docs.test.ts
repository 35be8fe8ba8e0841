// SPDX-License-Identifier: Apache-2.0
/**
 * docs/schema.md against the real schema on chDB (the modern engine the
 * queries are written for): every example query runs through QueryService,
 * and every table and column the migrations create is documented.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cannedQueries, EmbeddedStore, QueryService } from '@fleettrace/store';
import { MIGRATIONS, migrate, tableColumns } from '../src';

const DOC = readFileSync(resolve(__dirname, '../../../../docs/schema.md'), 'utf8');
const EXAMPLES = [...DOC.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());

describe('docs/schema.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-schema-docs-'));
  let store: EmbeddedStore;

  before(async () => {
    store = new EmbeddedStore({ dataDir: dir });
    assert.equal(await migrate(store), MIGRATIONS.length);
    // Twice: migrations are recorded and idempotent.
    assert.equal(await migrate(store), MIGRATIONS.length);
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('has example queries', () =>
    assert.ok(EXAMPLES.length >= 10, `${EXAMPLES.length} examples`));

  for (const sql of EXAMPLES) {
    test(`example runs: ${sql.split('\n')[0]}`, async () => {
      const r = await new QueryService(store).query(sql, 'admin');
      assert.ok(r.columns.length > 0);
    });
  }

  test('the canned queries of top and crashes run', async () => {
    const q = new QueryService(store);
    for (const by of ['uid', 'comm', 'host'] as const) {
      const r = await q.query(
        cannedQueries.topSql({ by, sinceS: 600, hosts: ['web-1', "o'brien"] }),
        'viewer',
      );
      assert.equal(r.columns[0]!.name, by);
    }
    const r = await q.query(cannedQueries.crashesSql({ sinceS: 3600 }), 'viewer');
    assert.ok(r.columns.some((c) => c.name === 'signal_name'));
  });

  test('documents every table and column', async () => {
    const missing: string[] = [];
    for (const [table, columns] of await tableColumns(store)) {
      const [db, name] = table.split('.');
      if (!DOC.includes(`${db}.${name}`) && !DOC.includes(`\`${name}\``)) missing.push(table);
      for (const c of columns)
        if (!DOC.includes(`\`${c.name}\``) && !DOC.includes(`${c.name}\``))
          missing.push(`${table}.${c.name}`);
    }
    assert.deepEqual(missing, []);
  });
});
