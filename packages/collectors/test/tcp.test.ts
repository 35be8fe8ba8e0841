// SPDX-License-Identifier: Apache-2.0
/**
 * tcp against the real kernel, between this network namespace and one the
 * test creates on a veth pair: a connection over IPv4 and one over IPv6 are
 * reported at close with the right ports, owners (the connecting test process
 * on the active side, the server whose accept() returned it on the passive
 * side), byte counts and a connect latency; with an nftables rule in the
 * server's namespace dropping a share of the packets, the retransmits are
 * reported with the connection's owner.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { localHost } from '../src/runtime/host';
import { collector, addressText, type TcpRow } from '../src/tcp/collector';

const N = process.pid % 200;
const NS = `fttcp${N}`;
const HOST_IF = `vfth${N}`;
const NS_IF = `vftn${N}`;
const V4 = { host: `10.213.${N}.1`, peer: `10.213.${N}.2` };
const V6 = { host: `fd00:213:${N.toString(16)}::1`, peer: `fd00:213:${N.toString(16)}::2` };
const PORT = 9000;
const SENT = 200_000;
const REPLY = 1000;

const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });

/** A server in the namespace: reads everything, answers REPLY bytes, closes. */
const SERVER = `
const net = require('node:net');
net.createServer((s) => {
  let n = 0;
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => { s.end(Buffer.alloc(${REPLY}, 1)); });
  s.on('error', () => {});
}).listen(${PORT}, '::', () => console.log('listening ' + process.pid));
`;

/** Connects, sends SENT bytes, reads the reply, closes: resolves with the bytes read. */
async function exchange(address: string, bytes = SENT): Promise<number> {
  const socket = connect({ host: address, port: PORT });
  await once(socket, 'connect');
  let got = 0;
  socket.on('data', (d: Buffer) => (got += d.length));
  socket.end(Buffer.alloc(bytes, 7));
  await once(socket, 'close');
  return got;
}

describe('tcp', () => {
  let server: ChildProcess;
  let serverPid = 0;

  before(async () => {
    sh('ip', 'netns', 'add', NS);
    sh('ip', 'link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
    sh('ip', 'link', 'set', NS_IF, 'netns', NS);
    sh('ip', 'addr', 'add', `${V4.host}/24`, 'dev', HOST_IF);
    sh('ip', 'addr', 'add', `${V6.host}/64`, 'dev', HOST_IF, 'nodad');
    sh('ip', 'link', 'set', HOST_IF, 'up');
    sh('ip', '-n', NS, 'addr', 'add', `${V4.peer}/24`, 'dev', NS_IF);
    sh('ip', '-n', NS, 'addr', 'add', `${V6.peer}/64`, 'dev', NS_IF, 'nodad');
    sh('ip', '-n', NS, 'link', 'set', NS_IF, 'up');
    sh('ip', '-n', NS, 'link', 'set', 'lo', 'up');
    server = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', SERVER], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    server.stdout!.setEncoding('utf8');
    for await (const chunk of server.stdout!) {
      out += chunk;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        serverPid = Number(m[1]);
        break;
      }
    }
  });

  after(() => {
    server?.kill('SIGKILL');
    try {
      sh('ip', 'netns', 'del', NS);
    } catch {
      // already gone
    }
    try {
      sh('ip', 'link', 'del', HOST_IF);
    } catch {
      // went with the namespace
    }
  });

  async function traced(work: () => Promise<void>): Promise<TcpRow[]> {
    const session = await collector.start({
      params: collector.parseParams({}, 'params'),
      filters: {},
      host: localHost(),
    });
    try {
      await work();
      await new Promise((r) => setTimeout(r, 300));
      const { rows, lost } = await session.drain();
      assert.equal(lost, 0);
      return rows.filter((r) => r.sport === PORT || r.dport === PORT);
    } finally {
      await session.close();
    }
  }

  for (const [family, addr] of [
    ['ipv4', V4],
    ['ipv6', V6],
  ] as const) {
    test(`${family}: both ends at close, with owners, ports, bytes and connect latency`, async () => {
      let got = 0;
      const rows = await traced(async () => {
        got = await exchange(addr.peer);
      });
      assert.equal(got, REPLY);
      const active = rows.find((r) => r.event === 'close' && r.role === 'active');
      const passive = rows.find((r) => r.event === 'close' && r.role === 'passive');
      assert.ok(
        active && passive,
        JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
      );
      assert.equal(active.family, family);
      assert.deepEqual([active.saddr, active.daddr, active.dport], [addr.host, addr.peer, PORT]);
      assert.equal(active.pid, process.pid, 'the connecting process owns the active side');
      assert.equal(active.uid, 0);
      assert.ok(active.bytes_out >= SENT, `${active.bytes_out} bytes out`);
      assert.ok(active.bytes_in >= REPLY, `${active.bytes_in} bytes in`);
      assert.ok(active.connect_ns > 0 && active.duration_ns >= active.connect_ns);
      assert.deepEqual([passive.saddr, passive.sport, passive.daddr], [addr.peer, PORT, addr.host]);
      assert.equal(passive.dport, active.sport);
      assert.equal(passive.pid, serverPid, "the server's accept() names it the owner");
      assert.ok(passive.bytes_in >= SENT && passive.bytes_out >= REPLY);
    });
  }

  test('packets dropped by nftables: retransmits with the owner', async () => {
    sh('ip', 'netns', 'exec', NS, 'nft', 'add', 'table', 'inet', 'ftdrop');
    sh(
      'ip',
      'netns',
      'exec',
      NS,
      'nft',
      'add',
      'chain',
      'inet',
      'ftdrop',
      'in',
      '{ type filter hook input priority 0; }',
    );
    sh(
      'ip',
      'netns',
      'exec',
      NS,
      'nft',
      'add',
      'rule',
      'inet',
      'ftdrop',
      'in',
      'tcp',
      'dport',
      String(PORT),
      'numgen',
      'random',
      'mod',
      '5',
      '==',
      '0',
      'drop',
    );
    try {
      const rows = await traced(async () => {
        await exchange(V4.peer, 2_000_000);
      });
      const retransmits = rows.filter((r) => r.event === 'retransmit' && r.dport === PORT);
      assert.ok(retransmits.length > 0, 'retransmits reported');
      assert.ok(retransmits.every((r) => r.pid === process.pid && r.daddr === V4.peer));
      assert.ok(
        retransmits.every((r) => r.state !== ''),
        'with the TCP state',
      );
    } finally {
      sh('ip', 'netns', 'exec', NS, 'nft', 'delete', 'table', 'inet', 'ftdrop');
    }
  });

  test('addresses as text', () => {
    const v6 = Buffer.from('fd000213000000000000000000000002', 'hex');
    assert.equal(addressText(v6, 10), 'fd00:213::2');
    assert.equal(addressText(Buffer.from([10, 0, 0, 1, ...new Array(12).fill(0)]), 2), '10.0.0.1');
    const mapped = Buffer.from('00000000000000000000ffff7f000001', 'hex');
    assert.equal(addressText(mapped, 10), '::ffff:127.0.0.1');
  });
});
