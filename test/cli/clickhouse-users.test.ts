// SPDX-License-Identifier: Apache-2.0
/**
 * `fleettrace clickhouse-users` against the ClickHouse 18.16 server started
 * WITHOUT the query users: the command writes them into the server's users.d,
 * the server loads them without a restart, and then the viewer reads with its
 * generated password, cannot write, a wrong password is refused, the limits
 * given as flags hold, and a controller started with the generated password
 * files answers `fleettrace query`. The --sql form is parsed by chDB
 * (ClickHouse 26): there is no server with SQL access control here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedStore } from '@fleettrace/store';
import { cli, startController } from '../harness/cli-process';
import { ClickHouseServer } from '../harness/clickhouse-server';
import { waitFor } from '../harness/local-processes';

/** One statement over HTTP as `user`; 18.16 takes the credentials as URL parameters. */
async function as(
  server: ClickHouseServer,
  user: string,
  password: string,
  sql: string,
): Promise<{ ok: boolean; text: string }> {
  const url = `${server.url}/?user=${encodeURIComponent(user)}&password=${encodeURIComponent(password)}`;
  const r = await fetch(url, { method: 'POST', body: sql });
  return { ok: r.ok, text: (await r.text()).trim() };
}

async function owner(server: ClickHouseServer, sql: string): Promise<string> {
  const r = await as(server, 'default', '', sql);
  assert.ok(r.ok, `${sql}: ${r.text}`);
  return r.text;
}

const PROBE_ROWS = 100_000;

describe('fleettrace clickhouse-users on the ClickHouse 18.16 server', () => {
  let server: ClickHouseServer;
  const secrets = join(mkdtempSync(join(tmpdir(), 'fleettrace-ch-users-')), 'secrets');
  let report: {
    users_file: string;
    users: Array<{ role: string; name: string; password_file: string; generated: boolean }>;
    limits: { maxResultRows: number; maxExecutionTimeS: number };
  };
  let viewerPassword = '';
  let adminPassword = '';

  before(async () => {
    server = await ClickHouseServer.start(undefined, { queryUsers: false });
    await owner(server, 'CREATE DATABASE fleettrace');
    await owner(server, 'CREATE DATABASE fleettrace_sensitive');
    await owner(server, 'CREATE TABLE fleettrace.probe (n UInt64) ENGINE = MergeTree ORDER BY n');
    await owner(
      server,
      `INSERT INTO fleettrace.probe SELECT number FROM system.numbers LIMIT ${PROBE_ROWS}`,
    );
    await owner(
      server,
      'CREATE TABLE fleettrace_sensitive.secret (s String) ENGINE = MergeTree ORDER BY s',
    );
    await owner(server, "INSERT INTO fleettrace_sensitive.secret VALUES ('x')");
  });

  after(async () => {
    await server?.destroy();
    rmSync(join(secrets, '..'), { recursive: true, force: true });
  });

  test('before: the query users do not exist', async () => {
    const r = await as(server, 'fleettrace_viewer', 'anything', 'SELECT 1');
    assert.equal(r.ok, false);
    assert.match(r.text, /Unknown user fleettrace_viewer/);
  });

  test('--users-d --generate: the file and the password files, no password in clear', () => {
    const r = cli([
      'clickhouse-users',
      '--users-d',
      server.usersDir,
      '--generate',
      secrets,
      '--max-result-rows',
      '1000',
      '--max-execution-time',
      '1s',
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    report = JSON.parse(r.stdout) as typeof report;
    assert.equal(report.users_file, join(server.usersDir, 'fleettrace-users.xml'));
    assert.equal(statSync(report.users_file).mode & 0o777, 0o640);
    assert.deepEqual(
      report.users.map((u) => [u.role, u.name, u.password_file, u.generated]),
      [
        ['viewer', 'fleettrace_viewer', join(secrets, 'clickhouse-viewer-password'), true],
        ['admin', 'fleettrace_admin', join(secrets, 'clickhouse-admin-password'), true],
      ],
    );
    assert.equal(report.limits.maxResultRows, 1000);
    assert.equal(report.limits.maxExecutionTimeS, 1);
    for (const u of report.users) assert.equal(statSync(u.password_file).mode & 0o777, 0o600);
    viewerPassword = readFileSync(report.users[0]!.password_file, 'utf8').trim();
    adminPassword = readFileSync(report.users[1]!.password_file, 'utf8').trim();
    assert.ok(viewerPassword.length >= 32 && viewerPassword !== adminPassword);
    const xml = readFileSync(report.users_file, 'utf8');
    for (const password of [viewerPassword, adminPassword]) {
      assert.ok(!xml.includes(password), 'a password in clear in the users file');
      assert.ok(xml.includes(createHash('sha256').update(password).digest('hex')));
    }
  });

  test('the server loads the users without a restart; the viewer reads with its password', async () => {
    const count = await waitFor(
      'the server to load users.d/fleettrace-users.xml',
      async () => {
        const r = await as(
          server,
          'fleettrace_viewer',
          viewerPassword,
          'SELECT count() FROM fleettrace.probe',
        );
        return r.ok ? r.text : undefined;
      },
      30_000,
    );
    assert.equal(count, String(PROBE_ROWS));
  });

  test('a wrong or missing password is refused', async () => {
    for (const password of ['wrong', '']) {
      const r = await as(server, 'fleettrace_viewer', password, 'SELECT 1');
      assert.equal(r.ok, false);
      assert.match(r.text, /Wrong password|Password required/);
    }
  });

  test('readonly: the viewer can neither write nor create, nor lift a limit', async () => {
    for (const sql of [
      'INSERT INTO fleettrace.probe VALUES (1)',
      'CREATE TABLE fleettrace.mine (n UInt8) ENGINE = Memory',
      'SELECT 1 SETTINGS max_result_rows = 0',
    ]) {
      const r = await as(server, 'fleettrace_viewer', viewerPassword, sql);
      assert.equal(r.ok, false, sql);
      assert.match(r.text, /readonly/, sql);
    }
    assert.equal(await owner(server, 'SELECT count() FROM fleettrace.probe'), String(PROBE_ROWS));
  });

  test('the limits given as flags hold: result rows and execution time', async () => {
    const rows = await as(
      server,
      'fleettrace_viewer',
      viewerPassword,
      'SELECT n FROM fleettrace.probe',
    );
    assert.equal(rows.ok, false);
    assert.match(rows.text, /Limit for result exceeded, max rows: 1\.00 thousand/);
    const started = Date.now();
    const time = await as(
      server,
      'fleettrace_viewer',
      viewerPassword,
      'SELECT count() FROM system.numbers WHERE NOT ignore(sipHash64(number))',
    );
    assert.equal(time.ok, false);
    assert.match(time.text, /Timeout exceeded: elapsed [\d.]+ seconds, maximum: 1/);
    assert.ok(Date.now() - started < 10_000);
  });

  test('only the admin reads fleettrace_sensitive', async () => {
    const sql = 'SELECT s FROM fleettrace_sensitive.secret';
    const viewer = await as(server, 'fleettrace_viewer', viewerPassword, sql);
    assert.equal(viewer.ok, false);
    assert.match(viewer.text, /Access denied to database fleettrace_sensitive/);
    assert.deepEqual(await as(server, 'fleettrace_admin', adminPassword, sql), {
      ok: true,
      text: 'x',
    });
  });

  test('running it again keeps the generated passwords', () => {
    const r = cli(['clickhouse-users', '--users-d', server.usersDir, '--generate', secrets]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--clickhouse-viewer-password-file \S+clickhouse-viewer-password/);
    assert.doesNotMatch(r.stdout, /\(generated\)/);
    assert.equal(
      readFileSync(join(secrets, 'clickhouse-viewer-password'), 'utf8').trim(),
      viewerPassword,
    );
  });

  test('--apply refuses a server without SQL access control, pointing to --users-d', () => {
    const r = cli(['clickhouse-users', '--apply', server.url, '--generate', secrets]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /--apply: ClickHouse 18\.16\.[\d.]+ has no SQL access control \(20\.5 on\): write the users file with --users-d instead/,
    );
  });

  test('the controller queries with the generated password files', async () => {
    const data = mkdtempSync(join(tmpdir(), 'fleettrace-ch-users-ctl-'));
    let child: ChildProcess | undefined;
    try {
      const started = await startController([
        '--data',
        data,
        '--clickhouse-url',
        server.url,
        '--clickhouse-viewer-password-file',
        report.users[0]!.password_file,
        '--clickhouse-admin-password-file',
        report.users[1]!.password_file,
      ]);
      child = started.child;
      const env = started.env;
      const q = cli(['query', 'SELECT count() AS n FROM fleettrace.probe', '--format', 'csv'], env);
      assert.equal(q.status, 0, q.stderr);
      assert.match(q.stdout, new RegExp(`^${PROBE_ROWS}$`, 'm'));
      // The admin role runs as fleettrace_admin, with the other file.
      const s = cli(['query', 'SELECT s FROM fleettrace_sensitive.secret', '--format', 'csv'], env);
      assert.equal(s.status, 0, s.stderr);
      assert.match(s.stdout, /^"?x"?$/m);
    } finally {
      child?.kill('SIGTERM');
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('fleettrace clickhouse-users: flags and the SQL form', () => {
  const env = {
    FLEETTRACE_CLICKHOUSE_VIEWER_PASSWORD: "v'iewer\\secret",
    FLEETTRACE_CLICKHOUSE_ADMIN_PASSWORD: 'admin-secret',
  };

  test('bad flags are refused, naming the flag', () => {
    for (const [args, message] of [
      [[], /give one of --users-d DIR, --sql, --apply URL/],
      [['--sql', '--users-d', '/tmp'], /give one of .*got --users-d, --sql/],
      [['--sql', '--max-result-rows', '0'], /--max-result-rows: must be between 1 and/],
      [['--sql', '--max-memory', '12XB'], /--max-memory: expected bytes such as/],
      [['--sql', '--max-execution-time', '1500ms'], /--max-execution-time: whole seconds only/],
      [['--sql', '--max-execution-time', 'soon'], /--max-execution-time: must be a duration/],
      [['--sql', '--network', 'example.com'], /--network: expected an IP address or CIDR/],
      [['--sql', '--viewer-user', 'a b'], /--viewer-user: a user name is/],
      [['--sql', '--user', 'x'], /--user: only with --apply/],
      [['--apply', 'ftp://x'], /--apply: expected http: or https:/],
      [['--users-d', '/nonexistent-dir'], /--users-d: ENOENT/],
    ] as Array<[string[], RegExp]>) {
      const r = cli(['clickhouse-users', ...args], env);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    const none = cli(['clickhouse-users', '--sql']);
    assert.equal(none.status, 2);
    assert.match(
      none.stderr,
      /--viewer-password-file: needed \(or \$FLEETTRACE_CLICKHOUSE_VIEWER_PASSWORD, or --generate DIR\)/,
    );
    assert.match(cli(['clickhouse-users', '--help']).stdout, /--users-d DIR[\s\S]*--generate DIR/);
    assert.match(cli(['--help']).stdout, /clickhouse-users[\s\S]*schema/);
  });

  test('--sql: every statement parses with ClickHouse 26 (chDB); hashes only', async () => {
    const flags = ['--sql', '--network', '10.0.0.0/8', '--max-memory', '1GiB'];
    const r = cli(['clickhouse-users', ...flags, '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    const { statements } = JSON.parse(r.stdout) as { statements: string[] };
    assert.ok(!r.stdout.includes('admin-secret') && !r.stdout.includes("v'iewer"));
    assert.deepEqual(
      statements.map((s) => s.split(' ').slice(0, 3).join(' ')),
      [
        'CREATE SETTINGS PROFILE',
        'ALTER SETTINGS PROFILE',
        'CREATE USER IF',
        'ALTER USER `fleettrace_viewer`',
        'GRANT SELECT ON',
        'CREATE USER IF',
        'ALTER USER `fleettrace_admin`',
        'GRANT SELECT ON',
        'GRANT SELECT ON',
      ],
    );
    assert.match(statements[1]!, /max_memory_usage = 1073741824 READONLY/);
    assert.match(statements[3]!, /HOST IP '10\.0\.0\.0\/8'/);
    const text = cli(['clickhouse-users', ...flags], env);
    assert.equal(text.stdout, statements.join(';\n') + ';\n');

    const dir = mkdtempSync(join(tmpdir(), 'fleettrace-ch-users-chdb-'));
    const chdb = new EmbeddedStore({ dataDir: dir });
    try {
      // formatQuery also takes an expression ('CREATE USER' comes back as
      // 'SELECT CREATE AS USER'): the statement must come back as itself.
      const words = (sql: string) => sql.split(/\s+/).slice(0, 3).join(' ');
      for (const sql of statements) {
        const literal = `'${sql.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
        const [row] = await chdb.select<{ f: string }>(`SELECT formatQuery(${literal}) AS f`);
        assert.equal(words(row!.f).replaceAll('`', ''), words(sql).replaceAll('`', ''), sql);
      }
      // And a broken one does not: the check is the parser's.
      await assert.rejects(
        chdb.select("SELECT formatQuery('CREATE USER x IDENTIFIED WITH sha256_hash BY')"),
        /Syntax error/,
      );
    } finally {
      await chdb.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
