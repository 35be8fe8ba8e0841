// SPDX-License-Identifier: Apache-2.0
/** The lexer pass of the query validator: where statements, strings and comments end. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkAst, checkLexically, QueryRefusedError, tokenize } from '../src/query-validator';

const refused = (sql: string, re: RegExp, role = 'viewer') =>
  assert.throws(
    () => checkLexically(sql, role),
    (e: Error) => e instanceof QueryRefusedError && re.test(e.message),
  );

describe('checkLexically', () => {
  test('keeps strings, quoted identifiers and comments whole', () => {
    const t = tokenize(`SELECT 'a;b''c\\'d', "x;y", \`z\` -- ; DROP\n/* ; */ FROM t`);
    assert.deepEqual(
      t.map((x) => x.text),
      ['SELECT', `'a;b''c\\'d'`, ',', '"x;y"', ',', '`z`', 'FROM', 't'],
    );
  });

  test('one statement, trailing semicolons allowed', () => {
    assert.deepEqual(checkLexically('SELECT 1;;', 'viewer'), { sql: 'SELECT 1', kind: 'select' });
    assert.equal(checkLexically('with 1 as x select x', 'viewer').kind, 'select');
    assert.equal(checkLexically('DESC t', 'viewer').kind, 'describe');
  });

  test('refuses what it cannot delimit like ClickHouse', () => {
    refused("SELECT 'unterminated", /unterminated string/);
    refused('SELECT 1 /* open', /unterminated \/\* comment/);
    refused('SELECT 1 /* a /* b */ ; DROP TABLE t */', /nested/);
    refused('SELECT $$;$$', /"\$" outside a string/);
    refused('SELECT 1 # x', /"#" outside a string/);
  });

  test('refuses second statements, clauses and functions', () => {
    refused('SELECT 1; SELECT 2', /only one statement/);
    refused("SELECT 1 INTO outfile 'x'", /INTO OUTFILE/);
    refused('SELECT 1 settings max_threads=1', /SETTINGS/);
    refused('SELECT 1 FORMAT CSV', /FORMAT/);
    refused("SELECT * FROM URL('x', CSV)", /URL\(\) is not allowed/);
    refused("SELECT * FROM s3('x')", /s3\(\) is not allowed/);
    refused('KILL QUERY WHERE 1', /only SELECT/);
    refused('SELECT * FROM `fleettrace_sensitive`.proc_exec', /admin role only/);
  });

  test('below admin, the server databases are closed but for generating tables', () => {
    for (const sql of [
      'SELECT * FROM system.errors',
      'SELECT create_table_query, data_paths FROM system.tables',
      'SELECT * FROM "system".`query_log`',
      'SELECT * FROM INFORMATION_SCHEMA.tables',
      'SHOW TABLES FROM system',
      'SELECT * FROM system.disks',
    ])
      refused(sql, /readable by the admin role only/);
    refused('SELECT addressToSymbol(1)', /addressToSymbol\(\) is not allowed/);
    refused("SELECT getServerSetting('path')", /getServerSetting\(\) is not allowed/);
    for (const sql of ['SELECT * FROM system.one', 'SELECT count() FROM system.numbers LIMIT 3'])
      assert.equal(checkLexically(sql, 'viewer').kind, 'select', sql);
    assert.equal(checkLexically('SELECT * FROM system.errors', 'admin').kind, 'select');
  });

  test('admins may name the sensitive database; function-like column names pass', () => {
    assert.equal(
      checkLexically('SELECT argv FROM fleettrace_sensitive.proc_exec', 'admin').kind,
      'select',
    );
    assert.equal(checkLexically("SELECT url FROM t WHERE file = 'x'", 'viewer').kind, 'select');
  });
});

describe('checkAst', () => {
  const ast = (lines: string[]) => lines.join('\n') + '\n';
  test('refuses table functions outside the harmless list, in any position', () => {
    assert.throws(
      () =>
        checkAst(
          ast([
            'SelectWithUnionQuery (children 1)',
            ' ExpressionList (children 1)',
            '  SelectQuery (children 2)',
            '   TablesInSelectQuery (children 1)',
            '    TablesInSelectQueryElement (children 1)',
            '     TableExpression (children 1)',
            '      Function generateRandom (children 1)',
          ]),
          'viewer',
        ),
      /table function generateRandom\(\) is not allowed/,
    );
  });
  test('refuses statements the lexer let through by kind', () => {
    assert.throws(() => checkAst('ShowGrantsQuery\n', 'viewer'), /not a ShowGrantsQuery/);
    assert.throws(
      () => checkAst('Explain EXPLAIN (children 1)\n InsertQuery\n', 'viewer'),
      /EXPLAIN is allowed for SELECT/,
    );
  });
});
