// SPDX-License-Identifier: Apache-2.0
/**
 * The cluster DDL against the single-server schema, on chDB (ClickHouse 26):
 * it covers exactly the tables the migrations create, every statement parses,
 * and each local table, created next to the migrated one, has the same
 * columns, partitioning, sorting key and engine. Replicated tables and
 * Distributed ones need ZooKeeper and a cluster, which chDB has not: those
 * statements are parsed here and run (minus replication) on the 18.16 server
 * in test/cli/cluster-schema.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedStore, featuresOf, type StoreFeatures } from '@fleettrace/store';
import { clusterSchema, MIGRATIONS, migrate, tableColumns } from '../src';

const literal = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

interface TableRow {
  name: string;
  engine: string;
  sorting_key: string;
  partition_key: string;
  create_table_query: string;
}

describe('cluster schema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-cluster-schema-'));
  let store: EmbeddedStore;
  let features: StoreFeatures;

  before(async () => {
    store = new EmbeddedStore({ dataDir: dir });
    await migrate(store);
    features = await store.features();
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('covers exactly the tables the migrations create', async () => {
    const migrated = [...(await tableColumns(store)).keys()].sort();
    const cluster = clusterSchema({ cluster: 'fleet', features });
    assert.deepEqual(cluster.tables.map((t) => t.table).sort(), migrated);
    assert.deepEqual(
      cluster.tables.map((t) => t.local),
      cluster.tables.map((t) => `${t.table}_local`),
    );
  });

  test('a table added by a new migration is in the cluster DDL; a statement it cannot translate throws', () => {
    MIGRATIONS.push({
      version: 9999,
      name: 'test table',
      statements: () => [
        `CREATE TABLE IF NOT EXISTS fleettrace.test_added (
  time DateTime('UTC'),
  host String,
  n UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (host, n)`,
      ],
    });
    try {
      const t = clusterSchema({ cluster: 'fleet', features }).tables.at(-1)!;
      assert.deepEqual(t, {
        table: 'fleettrace.test_added',
        local: 'fleettrace.test_added_local',
        shardingKey: 'cityHash64(host)',
        engine: 'ReplicatedReplacingMergeTree',
      });
      // A column added later is folded into the table's CREATE, after the column named.
      MIGRATIONS.push({
        version: 9_999.5,
        name: 'a column',
        statements: () => ['ALTER TABLE fleettrace.test_added ADD COLUMN m UInt32 AFTER host'],
      });
      const local = clusterSchema({ cluster: 'fleet', features }).statements.find((x) =>
        x.startsWith('CREATE TABLE IF NOT EXISTS fleettrace.test_added_local'),
      );
      assert.match(local ?? '', /host String,\s+m UInt32,\s+n UInt64/);
      MIGRATIONS.push({
        version: 10_000,
        name: 'an alter',
        statements: () => ['ALTER TABLE fleettrace.proc ADD COLUMN IF NOT EXISTS x UInt8'],
      });
      assert.throws(
        () => clusterSchema({ cluster: 'fleet', features }),
        /migration 10000 \(an alter\): no cluster form for this statement \(teach cluster-schema\.ts\): ALTER TABLE/,
      );
    } finally {
      while (MIGRATIONS.at(-1)!.version >= 9999) MIGRATIONS.pop();
    }
  });

  test('every statement parses (ClickHouse 26) and keeps its kind', async () => {
    for (const f of [features, featuresOf('18.16.1')]) {
      const { statements, tables } = clusterSchema({
        cluster: 'fleet',
        features: f,
        retentionDays: 30,
      });
      assert.equal(statements.length, 2 + 2 * tables.length);
      for (const sql of statements) {
        const [row] = await store.select<{ f: string }>(`SELECT formatQuery(${literal(sql)}) AS f`);
        // formatQuery also takes an expression: the statement must come back as itself.
        assert.equal(
          row!.f.split(/\s+/).slice(0, 3).join(' '),
          sql.split(/\s+/).slice(0, 3).join(' '),
        );
        assert.match(row!.f, /ON CLUSTER fleet/);
      }
    }
  });

  test('replicated engines: ZooKeeper path per table, replica, the version column kept', () => {
    const { statements, tables } = clusterSchema({
      cluster: 'fleet',
      features,
      zookeeperPath: '/ch/{shard}/',
      replica: '{host}',
    });
    assert.ok(tables.every((t) => t.engine === 'ReplicatedReplacingMergeTree'));
    const proc = statements.find((s) =>
      s.startsWith('CREATE TABLE IF NOT EXISTS fleettrace.proc_local'),
    )!;
    assert.match(
      proc,
      /\) ENGINE = ReplicatedReplacingMergeTree\('\/ch\/\{shard\}\/fleettrace\/proc_local', '\{host\}'\)\n/,
    );
    assert.match(proc, /replicated_deduplication_window = 1000/);
    assert.doesNotMatch(proc, /non_replicated/);
    const jobs = statements.find((s) =>
      s.startsWith('CREATE TABLE IF NOT EXISTS fleettrace.jobs_local'),
    )!;
    assert.match(
      jobs,
      /ReplicatedReplacingMergeTree\('\/ch\/\{shard\}\/fleettrace\/jobs_local', '\{host\}', version\)/,
    );
    assert.ok(
      statements.includes(
        'CREATE TABLE IF NOT EXISTS fleettrace.proc ON CLUSTER fleet AS fleettrace.proc_local\n' +
          'ENGINE = Distributed(fleet, fleettrace, proc_local, cityHash64(host))',
      ),
    );
  });

  test('sharding keys: host where it is in the sorting key, else the key first column', () => {
    const keys = Object.fromEntries(
      clusterSchema({ cluster: 'fleet', features }).tables.map((t) => [t.table, t.shardingKey]),
    );
    assert.equal(keys['fleettrace.proc'], 'cityHash64(host)');
    assert.equal(keys['fleettrace_sensitive.proc_exec'], 'cityHash64(host)');
    assert.equal(keys['fleettrace.batches'], 'cityHash64(agent_id)');
    assert.equal(keys['fleettrace.stacks'], 'cityHash64(stack_id)');
    assert.equal(keys['fleettrace.jobs'], 'cityHash64(job_id)');
    assert.equal(keys['fleettrace.job_runs'], 'cityHash64(job_id)');
    assert.equal(keys['fleettrace.agents'], 'cityHash64(agent_id)');
  });

  test('each local table has the single-server table columns, partitions, sorting key and engine; TTL on the time-partitioned ones', async () => {
    const { statements, tables } = clusterSchema({
      cluster: 'fleet',
      features,
      replication: 'none',
      retentionDays: 7,
    });
    assert.ok(statements.every((s) => !s.includes('ON CLUSTER')));
    // The local tables only: a Distributed table needs the cluster in the server's config.
    for (const sql of statements.filter((s) => /^CREATE TABLE \S+ \S+ \S+ \S+_local /.test(s)))
      await store.command(sql);
    const rows = await store.select<TableRow & { database: string }>(
      `SELECT database, name, engine, sorting_key, partition_key, create_table_query FROM system.tables
       WHERE database IN ('fleettrace', 'fleettrace_sensitive')`,
    );
    const columns = await tableColumns(store);
    const byName = new Map(rows.map((r) => [`${r.database}.${r.name}`, r]));
    for (const t of tables) {
      const single = byName.get(t.table)!;
      const local = byName.get(t.local);
      assert.ok(local, `${t.local} was not created`);
      assert.deepEqual(columns.get(t.local), columns.get(t.table), t.local);
      for (const k of ['engine', 'sorting_key', 'partition_key'] as const)
        assert.equal(local[k], single[k], `${t.local} ${k}`);
      if (single.partition_key.includes('time'))
        assert.match(local.create_table_query, /TTL time \+ toIntervalDay\(7\)/, t.local);
      else assert.doesNotMatch(local.create_table_query, /TTL/, t.local);
    }
  });

  test('a bad cluster name is refused', () => {
    assert.throws(() => clusterSchema({ cluster: 'a b', features }), /cluster name: letters/);
  });
});
