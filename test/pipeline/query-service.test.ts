// SPDX-License-Identifier: Apache-2.0
/**
 * The SQL API's fence, on both stores (issue 5): DDL, INSERT, SYSTEM,
 * SETTINGS, INTO OUTFILE, file(), url(), executable(), two statements and an
 * endless query are each refused or stopped with a clear error; a viewer's
 * query of fleettrace_sensitive is refused, and on the server the
 * readonly user itself is denied the database even past the validator.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { migrate } from '@fleettrace/ingest';
import {
  DEFAULT_QUERY_LIMITS,
  EmbeddedStore,
  QueryFailedError,
  QueryRefusedError,
  QueryService,
  ServerStore,
  type QueryLimits,
  type Store,
} from '@fleettrace/store';
import { ADMIN, ClickHouseServer, VIEWER } from '../harness/clickhouse-server';

/** Short enough for the endless query to be stopped quickly. */
const LIMITS: QueryLimits = { ...DEFAULT_QUERY_LIMITS, maxExecutionTimeS: 3, maxRowsToRead: 1e13 };

/** Refused: the statement is not allowed at all. */
const REFUSED: Array<[string, string, RegExp]> = [
  [
    'DDL',
    'CREATE TABLE fleettrace.evil (a UInt8) ENGINE = Memory',
    /only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN/,
  ],
  ['DROP', 'DROP TABLE fleettrace.proc', /only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN/],
  [
    'ALTER',
    'ALTER TABLE fleettrace.proc DELETE WHERE 1',
    /only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN/,
  ],
  [
    'INSERT',
    'INSERT INTO fleettrace.proc (pid) VALUES (1)',
    /only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN/,
  ],
  ['SYSTEM', 'SYSTEM FLUSH LOGS', /only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN/],
  [
    'SETTINGS',
    'SELECT count() FROM fleettrace.proc SETTINGS max_execution_time = 100000',
    /SETTINGS clauses are not allowed/,
  ],
  [
    'INTO OUTFILE',
    "SELECT * FROM fleettrace.proc INTO OUTFILE '/tmp/fleettrace-leak.tsv'",
    /INTO OUTFILE is not allowed/,
  ],
  ['FORMAT', 'SELECT 1 FORMAT JSON', /FORMAT clauses are not allowed/],
  ['file()', "SELECT * FROM file('/etc/passwd', 'TSV', 'line String')", /file\(\) is not allowed/],
  ['scalar file()', "SELECT file('/etc/passwd')", /file\(\) is not allowed/],
  [
    'url()',
    "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'a String')",
    /url\(\) is not allowed/,
  ],
  [
    'executable()',
    "SELECT * FROM executable('id', 'TSV', 'a String')",
    /executable\(\) is not allowed/,
  ],
  ['remote()', "SELECT * FROM remote('127.0.0.1', system.one)", /remote\(\) is not allowed/],
  [
    'system.errors',
    'SELECT * FROM system.errors',
    /system\.errors is readable by the admin role only/,
  ],
  [
    'sensitive DDL and paths',
    "SELECT create_table_query, data_paths FROM system.tables WHERE database = 'fleettrace_sensitive'",
    /readable by the admin role only/,
  ],
  ['introspection', 'SELECT addressToSymbol(toUInt64(1))', /addressToSymbol\(\) is not allowed/],
  ['two statements', 'SELECT 1; DROP TABLE fleettrace.proc', /only one statement is allowed/],
  ['two statements after a comment', 'SELECT 1 /* x */; SELECT 2', /only one statement is allowed/],
  [
    'a # comment',
    'SELECT 1 # ; DROP TABLE fleettrace.proc',
    /"#" outside a string is not accepted/,
  ],
  [
    'the sensitive database as viewer',
    'SELECT argv FROM fleettrace_sensitive.proc_exec',
    /readable by the admin role only/,
  ],
  ['empty', '  ;  ', /the query is empty/],
];

/** Allowed: must run. */
const ALLOWED = [
  'SELECT count() FROM fleettrace.proc FINAL',
  "WITH 'x' AS s SELECT s, count() FROM fleettrace.proc WHERE comm != ';'",
  'SELECT 1 -- ; DROP TABLE fleettrace.proc',
  'SHOW TABLES FROM fleettrace',
  'DESCRIBE TABLE fleettrace.proc',
  'SELECT uid, sum(samples) FROM fleettrace.cpu_profile GROUP BY uid;',
];

function suite(
  name: string,
  open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>,
  extra: (s: () => Store) => void,
) {
  describe(name, { timeout: 180_000 }, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let queries: QueryService;

    before(async () => {
      ({ store, cleanup } = await open());
      queries = new QueryService(store);
    });
    after(async () => cleanup?.());

    for (const [what, sql, message] of REFUSED) {
      test(`refuses ${what}`, async () => {
        await assert.rejects(queries.query(sql, 'viewer'), (err: Error) => {
          assert.ok(err instanceof QueryRefusedError, `${err.name}: ${err.message}`);
          assert.match(err.message, message);
          return true;
        });
      });
    }

    test('a refused second statement never ran', async () => {
      await queries.query('SELECT 1; DROP TABLE fleettrace.proc', 'admin').catch(() => undefined);
      const r = await queries.query("SHOW TABLES FROM fleettrace LIKE 'proc'", 'viewer');
      assert.equal(r.rows.length, 1);
    });

    for (const sql of ALLOWED) {
      test(`runs ${JSON.stringify(sql)}`, async () => {
        const r = await queries.query(sql, 'viewer');
        assert.ok(Array.isArray(r.rows));
        assert.ok(r.columns.length > 0);
      });
    }

    test('stops an endless query with a clear error', async () => {
      const started = Date.now();
      await assert.rejects(
        queries.query('SELECT count() FROM system.numbers', 'viewer'),
        (err: Error) => {
          assert.ok(err instanceof QueryFailedError, `${err.name}: ${err.message}`);
          assert.match(err.message, /Timeout exceeded|Limit for rows/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 20_000, 'stopped by the time limit, not by the test');
    });

    extra(() => store);
  });
}

suite(
  'query service on the ClickHouse 18.16 server',
  async () => {
    const server = await ClickHouseServer.start(LIMITS);
    const store = new ServerStore({ url: server.url, viewer: VIEWER, admin: ADMIN });
    await migrate(store);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await server.destroy();
      },
    };
  },
  (store) => {
    test('the viewer user itself cannot read fleettrace_sensitive (past the validator)', async () => {
      await assert.rejects(
        store().queryAs('viewer', 'SELECT count() FROM fleettrace_sensitive.proc_exec'),
        /Access denied to database fleettrace_sensitive/,
      );
    });
    test('the admin role reads fleettrace_sensitive', async () => {
      const r = await new QueryService(store()).query(
        'SELECT count() FROM fleettrace_sensitive.proc_exec',
        'admin',
      );
      assert.equal(r.rows.length, 1);
    });
    test('the readonly user cannot lift its limits', async () => {
      await assert.rejects(
        store().queryAs('viewer', 'SELECT 1 SETTINGS max_execution_time = 1000'),
        /readonly/,
      );
    });
  },
);

suite(
  'query service on chDB',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleettrace-chdb-query-'));
    const store = new EmbeddedStore({ dataDir: dir, limits: LIMITS });
    await migrate(store);
    return {
      store,
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  (store) => {
    test('harmless table functions and EXPLAIN run', async () => {
      const q = new QueryService(store());
      assert.deepEqual((await q.query('SELECT sum(number) FROM numbers(10)', 'viewer')).rows, [
        ['45'],
      ]);
      assert.ok((await q.query('EXPLAIN SELECT count() FROM zeros(10)', 'viewer')).rows.length > 0);
    });
    test('the admin role reads fleettrace_sensitive', async () => {
      const r = await new QueryService(store()).query(
        'SELECT count() FROM fleettrace_sensitive.proc_exec',
        'admin',
      );
      assert.equal(r.rows.length, 1);
    });
  },
);
