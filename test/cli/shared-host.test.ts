// SPDX-License-Identifier: Apache-2.0
/**
 * Every customer of a shared host is a local user: `fleettrace up` tried by
 * one (a fresh uid through setpriv, as a PHP script or a cron job would run).
 * It cannot post to the local bus, gets nothing from any port up and its
 * agent listen on without a token, and can read no file under the data
 * directory, even with the directories above it open to everyone.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../control-plane/harness';

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
    const [api, enroll, control, metrics] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    child = spawn(
      CLI,
      [
        'up',
        '--data',
        data,
        '--no-default-job',
        '--listen',
        `127.0.0.1:${api}`,
        '--enroll-listen',
        `127.0.0.1:${enroll}`,
        '--control-listen',
        `127.0.0.1:${control}`,
        '--agent-metrics',
        `127.0.0.1:${metrics}`,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`up did not start: ${err.slice(-2000)}`)),
        90_000,
      );
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('fleettrace is up')) {
          clearTimeout(timer);
          res();
        }
      });
      child.once('exit', (code) => rej(new Error(`up exited ${code}: ${err.slice(-2000)}`)));
    });
    // The agent enrolls and opens its /metrics shortly after up is ready.
    const deadline = Date.now() + 60_000;
    while (
      childrenOf(child.pid!).length === 0 ||
      listeningPorts(childrenOf(child.pid!)).length === 0
    ) {
      if (Date.now() > deadline) throw new Error(`the agent did not listen: ${err.slice(-2000)}`);
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
});
