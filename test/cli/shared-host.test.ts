// SPDX-License-Identifier: Apache-2.0
/**
 * Every customer of a shared host is a local user: `fleettrace up` tried by
 * one (a fresh uid through setpriv, as a PHP script or a cron job would run).
 * It cannot post to the local bus, gets nothing from any port up and its
 * agent listen on without a token, and can read no file under the data
 * directory, even with the directories above it open to everyone. And what
 * customers' cron jobs and PHP scripts put on their command lines (passwords,
 * bearer tokens, URL credentials, separately and inside `sh -c`) is in no
 * table of either database once the always-on job stored their execs.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freeUpPorts, startUp } from '../harness/up-process';

const CLI = resolve(__dirname, '../../../bin/fleettrace');
const CUSTOMER = 62000 + (process.pid % 3000);

/** What the customer runs: tries each target and prints one JSON line per try. */
const PROBE = `
const net = require('node:net');
const http = require('node:http');
const fs = require('node:fs');
const [socketPath, portsJson, filesJson] = process.argv.slice(2);
const out = [];
const done = () => { process.stdout.write(JSON.stringify(out) + '\\n'); process.exit(0); };
function tryHttp(opts, body) {
  return new Promise((resolve) => {
    const req = http.request({ ...opts, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text: text.slice(0, 200) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code || e.message }));
    req.end(body);
  });
}
(async () => {
  out.push({ target: 'bus', ...(await tryHttp({ socketPath, method: 'POST', path: '/v1/publish/fleettrace.events' }, Buffer.alloc(8))) });
  for (const port of JSON.parse(portsJson)) {
    const sql = JSON.stringify({ sql: 'SELECT 1' });
    for (const [method, path, body] of [
      ['POST', '/api/v1/query', sql], ['GET', '/api/v1/jobs'], ['GET', '/metrics'], ['POST', '/v1/query', sql], ['GET', '/api/v1/hosts'],
    ])
      out.push({ target: port + ' ' + method + ' ' + path, ...(await tryHttp({ host: '127.0.0.1', port, method, path, headers: { 'content-type': 'application/json' } }, body)) });
  }
  for (const f of JSON.parse(filesJson)) {
    try { fs.closeSync(fs.openSync(f, 'r')); out.push({ target: f, opened: true }); }
    catch (e) { out.push({ target: f, error: e.code }); }
  }
  done();
})();
`;

/** TCP ports in LISTEN state whose socket one of `pids` holds. */
function listeningPorts(pids: number[]): number[] {
  const byInode = new Map<string, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6'])
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A') byInode.set(f[9]!, parseInt(f[1]!.split(':')[1]!, 16));
    }
  const ports = new Set<number>();
  for (const pid of pids)
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let link = '';
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      const port = inode && byInode.get(inode);
      if (port) ports.add(port);
    }
  return [...ports];
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('fleettrace up, tried by a customer of the host', { timeout: 300_000 }, () => {
  // Open to everyone above the data directory: only fleettrace's own modes may protect it.
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-shared-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') };
  delete env.FLEETTRACE_SERVER;
  delete env.FLEETTRACE_TOKEN;
  let child: ChildProcess;

  before(async () => {
    const started = await startUp({ data, env, ports: await freeUpPorts() });
    child = started.child;
    const err = started.stderr;
    // The agent enrolls and opens its /metrics shortly after up is ready.
    const deadline = Date.now() + 60_000;
    while (
      childrenOf(child.pid!).length === 0 ||
      listeningPorts(childrenOf(child.pid!)).length === 0
    ) {
      if (Date.now() > deadline) throw new Error(`the agent did not listen: ${err().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('cannot post to the bus, query any port, or read any file', () => {
    const pids = [child.pid!, ...childrenOf(child.pid!)];
    const ports = listeningPorts(pids);
    assert.ok(ports.length >= 4, `up and its agent listen on ${ports.join(', ')}`);
    const files = walk(data);
    assert.ok(files.length > 20, `${files.length} files under the data directory`);
    const probe = join(dir, 'probe.js');
    writeFileSync(probe, PROBE, { mode: 0o644 });
    const r = spawnSync(
      'setpriv',
      [
        `--reuid=${CUSTOMER}`,
        `--regid=${CUSTOMER}`,
        '--clear-groups',
        process.execPath,
        probe,
        join(data, 'run', 'bus.sock'),
        JSON.stringify(ports),
        JSON.stringify(files),
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const tries = JSON.parse(r.stdout) as Array<{
      target: string;
      status?: number;
      error?: string;
      opened?: boolean;
      text?: string;
    }>;
    const bus = tries.find((t) => t.target === 'bus')!;
    assert.equal(bus.error, 'EACCES', `the bus socket: ${JSON.stringify(bus)}`);
    const answered = tries.filter(
      (t) => t.status !== undefined && t.status >= 200 && t.status < 300,
    );
    assert.deepEqual(answered, [], 'no port answers without a token');
    const opened = tries.filter((t) => t.opened);
    assert.deepEqual(opened, [], 'no file under the data directory opens');
    for (const t of tries.filter((x) => x.target.startsWith('/')))
      assert.equal(t.error, 'EACCES', t.target);
    assert.equal(statSync(data).mode & 0o077, 0, 'the data directory is owner-only');
  });

  test("secrets on customers' command lines reach no table", { timeout: 240_000 }, async () => {
    const cli = (...args: string[]) =>
      spawnSync(CLI, args, { env, encoding: 'utf8', timeout: 60_000 });
    const rows = (sql: string): Array<Record<string, unknown>> => {
      const r = cli('query', '--format', 'json', sql);
      assert.equal(r.status, 0, `${sql}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    };
    // Programs named as customers call them (each is /bin/true: only the exec matters).
    const bin = join(dir, 'bin');
    mkdirSync(bin, { mode: 0o755 });
    for (const name of ['mysql', 'curl', 'sshpass', 'redis-cli', 'git'])
      symlinkSync('/bin/true', join(bin, name));
    const secrets = ['Zq9pwOne', 'Zq9pwTwo', 'Zq9pwThree', 'Zq9pwFour', 'Zq9pwFive', 'Zq9pwSix'];
    // A GitHub token is ghp_ and 36 characters: the secret is inside one of that shape.
    const githubToken = `ghp_${secrets[5]}${'x7'.repeat(14)}`;
    const asCustomer = (file: string, args: string[]) =>
      execFileSync('setpriv', [
        `--reuid=${CUSTOMER}`,
        `--regid=${CUSTOMER}`,
        '--clear-groups',
        file,
        ...args,
      ]);
    // Wait for the always-on job to run, so the execs are traced.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = cli('jobs', '--json');
      if (r.status === 0 && /"running"/.test(r.stdout)) break;
      if (Date.now() > deadline) assert.fail('the always-on job did not start');
      await new Promise((res) => setTimeout(res, 1000));
    }
    await new Promise((res) => setTimeout(res, 3000));
    asCustomer('/bin/sh', [
      '-c',
      `${bin}/mysql -uroot -p${secrets[0]!} shop < /dev/null; ${bin}/curl -u bob:${secrets[1]!} https://example.invalid/`,
    ]);
    asCustomer(join(bin, 'curl'), [
      '-H',
      `Authorization: Bearer ftapi.abcdefabcdef.${secrets[2]!}`,
      'https://example.invalid/',
    ]);
    asCustomer(join(bin, 'sshpass'), ['-p', secrets[3]!, 'ssh', 'deploy@host']);
    asCustomer(join(bin, 'redis-cli'), ['-a', secrets[4]!, 'PING']);
    asCustomer(join(bin, 'git'), ['clone', `https://${githubToken}@github.com/acme/site.git`]);
    // Every one of those execs stored (the last one, then the others), before looking for the secrets.
    const stored = () =>
      Number(
        rows(
          `SELECT count() AS n FROM fleettrace_sensitive.proc_exec FINAL WHERE uid = ${CUSTOMER} AND filename LIKE '${bin}/%'`,
        )[0]?.n ?? 0,
      );
    const waitUntil = Date.now() + 60_000;
    while (stored() < 6) {
      if (Date.now() > waitUntil) assert.fail(`only ${stored()} of 6 execs stored`);
      await new Promise((res) => setTimeout(res, 2000));
    }
    // Through the API, not `fleettrace query`: the secrets must not be on a command line here.
    const local = JSON.parse(
      readFileSync(join(dir, 'config', 'fleettrace', 'local.json'), 'utf8'),
    ) as { server: string; token: string };
    const apiRows = async (sql: string): Promise<unknown[][]> => {
      const res = await fetch(`${local.server}/api/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${local.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql }),
      });
      const body = (await res.json()) as { rows: unknown[][]; message?: string };
      assert.equal(res.status, 200, `${sql}: ${body.message}`);
      return body.rows;
    };
    const tables = rows(
      "SELECT database, name FROM system.tables WHERE database IN ('fleettrace', 'fleettrace_sensitive') AND engine NOT LIKE '%View%'",
    );
    assert.ok(tables.length > 5, `${tables.length} tables`);
    const found: string[] = [];
    for (const t of tables) {
      const table = `${String(t.database)}.${String(t.name)}`;
      const counts = (
        await apiRows(
          `SELECT ${secrets.map((x) => `countIf(position(r, '${x}') > 0)`).join(', ')} FROM (SELECT formatRow('TSV', *) AS r FROM ${table})`,
        )
      )[0]!;
      secrets.forEach((secret, i) => {
        if (Number(counts[i]) > 0) found.push(`${secret} in ${table} (${String(counts[i])} rows)`);
      });
    }
    assert.deepEqual(found, [], 'no secret stored anywhere');
    // ... while the commands themselves are there, with their secrets masked.
    const argv = rows(
      `SELECT argv FROM fleettrace_sensitive.proc_exec WHERE uid = ${CUSTOMER} AND filename = '${bin}/sshpass' LIMIT 1`,
    );
    assert.match(JSON.stringify(argv), /\*\*\*/);
  });
});
