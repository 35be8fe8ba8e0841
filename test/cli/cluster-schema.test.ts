// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace schema --cluster` on the ClickHouse 18.16 server, with a
 * cluster of one shard (this server itself, 127.0.0.1) in remote_servers.
 * There is no ZooKeeper here, so the statements are the --no-replication
 * form (plain ReplacingMergeTree local tables, no ON CLUSTER): the
 * Distributed half is what runs for real. Rows inserted through the
 * Distributed tables land in the _local ones and read back through them,
 * a batch stored twice collapses under FINAL, ingest's own migrations then
 * leave the cluster tables alone, ingest's insert path (ServerStore) writes
 * through them, and the viewer query user reads them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MIGRATIONS, migrate } from '@fleettrace/ingest';
import { ServerStore } from '@fleettrace/store';
import { cli } from '../harness/cli-process';
import { ClickHouseServer, VIEWER } from '../harness/clickhouse-server';
import { waitFor } from '../harness/local-processes';

const CLUSTER = 'fleettrace_test';

/** One statement; as the owner, Distributed inserts are synchronous (readable once answered). */
async function query(server: ClickHouseServer, sql: string, user = 'default', password = '') {
  const sync = user === 'default' ? '&insert_distributed_sync=1' : '';
  const url = `${server.url}/?user=${user}&password=${encodeURIComponent(password)}${sync}`;
  const r = await fetch(url, { method: 'POST', body: sql });
  const text = (await r.text()).trim();
  assert.ok(r.ok, `${sql.split('\n')[0]}: ${text}`);
  return text;
}

describe('fleettrace schema --cluster on the ClickHouse 18.16 server', () => {
  let server: ClickHouseServer;
  let schema: {
    statements: string[];
    tables: Array<{ table: string; local: string; shardingKey: string; engine: string }>;
  };

  before(async () => {
    server = await ClickHouseServer.start(undefined, {
      extraConfig: ({ tcp }) => `<remote_servers><${CLUSTER}><shard><replica>
    <host>127.0.0.1</host><port>${tcp}</port></replica></shard></${CLUSTER}></remote_servers>`,
    });
  });

  after(async () => {
    await server?.destroy();
  });

  test('the generated statements run; every table is Distributed over its _local table', async () => {
    const r = cli([
      'schema',
      '--cluster',
      CLUSTER,
      '--no-replication',
      '--server-version',
      '18.16.1',
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    schema = JSON.parse(r.stdout) as typeof schema;
    for (const sql of schema.statements) await query(server, sql);
    const engines = new Map(
      (
        await query(
          server,
          `SELECT concat(database, '.', name), engine FROM system.tables
           WHERE database IN ('fleettrace', 'fleettrace_sensitive') FORMAT TSV`,
        )
      )
        .split('\n')
        .map((l) => l.split('\t') as [string, string]),
    );
    for (const t of schema.tables) {
      assert.equal(engines.get(t.table), 'Distributed', t.table);
      assert.equal(engines.get(t.local), 'ReplacingMergeTree', t.local);
    }
    // Run twice: IF NOT EXISTS throughout.
    for (const sql of schema.statements) await query(server, sql);
  });

  test('ingest migrating afterwards leaves the cluster tables as they are', async () => {
    const store = new ServerStore({ url: server.url });
    try {
      assert.equal(await migrate(store), MIGRATIONS.length);
    } finally {
      await store.close();
    }
    assert.equal(
      await query(
        server,
        "SELECT engine FROM system.tables WHERE database = 'fleettrace' AND name = 'proc'",
      ),
      'Distributed',
    );
  });

  test('rows inserted through the Distributed table land in the local one and read back; FINAL collapses a batch stored twice', async () => {
    const rows = ['web-1', 'web-2', 'db-1']
      .map((host, i) =>
        JSON.stringify({
          ts_ns: String(1_700_000_000_000_000_000n + BigInt(i)),
          time: 1_700_000_000,
          host,
          uid: 1000,
          event: 'exec',
          exe: 'sh',
          weight: 1,
          batch_id: '42',
          row_idx: i,
        }),
      )
      .join('\n');
    for (let copy = 0; copy < 2; copy++)
      await query(server, `INSERT INTO fleettrace.proc FORMAT JSONEachRow\n${rows}`);
    assert.equal(await query(server, 'SELECT count() FROM fleettrace.proc_local'), '6');
    assert.equal(
      await query(
        server,
        'SELECT groupArray(host) FROM (SELECT host FROM fleettrace.proc FINAL ORDER BY host)',
      ),
      "['db-1','web-1','web-2']",
    );
    // The controller's tables keep the latest version of a row.
    for (const [state, version] of [
      ['running', 1],
      ['done', 2],
    ] as const)
      await query(
        server,
        `INSERT INTO fleettrace.jobs FORMAT JSONEachRow\n${JSON.stringify({ job_id: 'j1', state, updated: 1_700_000_000, version })}`,
      );
    assert.equal(
      await query(server, "SELECT state FROM fleettrace.jobs FINAL WHERE job_id = 'j1'"),
      'done',
    );
  });

  test("ingest's insert path writes through the Distributed table; the viewer reads it", async () => {
    const store = new ServerStore({ url: server.url });
    try {
      await store.insert(
        'fleettrace.batches',
        Buffer.from(
          JSON.stringify({
            time: 1_700_000_000,
            agent_id: 'a1',
            host: 'web-1',
            sequence: 7,
            collector: 'proc',
            row_count: 3,
            batch_id: '42',
          }) + '\n',
        ),
      );
    } finally {
      await store.close();
    }
    // A Distributed insert without insert_distributed_sync is forwarded in the background.
    await waitFor(
      'the batch row to reach batches_local',
      async () => (await query(server, 'SELECT count() FROM fleettrace.batches_local')) === '1',
      20_000,
    );
    assert.equal(
      await query(
        server,
        'SELECT host, row_count FROM fleettrace.batches FINAL FORMAT TSV',
        VIEWER.username,
        VIEWER.password,
      ),
      'web-1\t3',
    );
  });

  test('--cluster flags are checked, naming the flag', () => {
    for (const [args, message] of [
      [['--cluster', 'a-b'], /--cluster: letters, digits and _/],
      [['--replica', 'x'], /--replica: only with --cluster/],
      [['--cluster', 'c', '--retention-days', '1.5'], /--retention-days: must be/],
      [['--cluster', 'c', '--zookeeper-path', "x'"], /--zookeeper-path: an absolute path/],
      [
        ['--cluster', 'c', '--no-replication', '--replica', 'r'],
        /--replica: not with --no-replication/,
      ],
      [['--server-version', 'new'], /--server-version: expected a version/],
    ] as Array<[string[], RegExp]>) {
      const r = cli(['schema', ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    const single = cli(['schema', '--server-version', '18.16']);
    assert.equal(single.status, 0, single.stderr);
    assert.match(single.stdout, /^CREATE DATABASE IF NOT EXISTS fleettrace;\n/);
    assert.doesNotMatch(single.stdout, /LowCardinality|ON CLUSTER/);
  });
});
