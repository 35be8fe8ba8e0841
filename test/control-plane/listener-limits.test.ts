// SPDX-License-Identifier: Apache-2.0
/**
 * Listeners every local user can reach: a connection that sends nothing is
 * closed by the server (REST API and the agent's /metrics), the REST API
 * refuses connections past its cap, and the controller's data directory is
 * owner-only after start even when it existed with looser modes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cleanup, startTestController, tempDir } from './harness';

/** Opens a TCP connection, sends nothing, and resolves with how long until the server closed it. */
async function silentConnectionLifetime(port: number, giveUpMs: number): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const start = Date.now();
  socket.on('data', () => undefined);
  socket.on('error', () => undefined);
  const timer = setTimeout(() => socket.destroy(), giveUpMs);
  await once(socket, 'close');
  clearTimeout(timer);
  return Date.now() - start;
}

const portOf = (url: string) => Number(new URL(url).port);

describe('listener limits', () => {
  test('the REST API closes a connection that sends nothing within its 10 s header deadline', async () => {
    const c = await startTestController();
    try {
      const lived = await silentConnectionLifetime(portOf(c.url), 30_000);
      // headersTimeout 10 s, checked every second
      assert.ok(lived >= 9_000 && lived <= 12_500, `closed after ${lived} ms`);
    } finally {
      await c.close();
    }
  });

  test('a short header deadline and a connection cap are honoured', async () => {
    const c = await startTestController({
      httpLimits: { headersTimeoutMs: 1_000, maxConnections: 3 },
    });
    const held: Socket[] = [];
    try {
      const lived = await silentConnectionLifetime(portOf(c.url), 10_000);
      assert.ok(lived <= 2_500, `closed after ${lived} ms`);
      for (let i = 0; i < 3; i++) {
        const s = connect(portOf(c.url), '127.0.0.1');
        s.on('error', () => undefined);
        await once(s, 'connect');
        held.push(s);
      }
      // The fourth is accepted by the kernel and closed by the server at once.
      const lived4 = await silentConnectionLifetime(portOf(c.url), 10_000);
      assert.ok(lived4 < 500, `the connection over the cap lived ${lived4} ms`);
    } finally {
      for (const s of held) s.destroy();
      await c.close();
    }
  });

  test("the agent's /metrics closes a connection that sends nothing within 5 s", async () => {
    const { serveAgentMetrics } = await import('@fleettrace/agent');
    const server = await serveAgentMetrics(
      { host: '127.0.0.1', port: 0 },
      'x'.repeat(32),
      () => [],
    );
    try {
      const port = (server.address() as { port: number }).port;
      const lived = await silentConnectionLifetime(port, 20_000);
      assert.ok(lived >= 4_000 && lived <= 7_000, `closed after ${lived} ms`);
    } finally {
      server.close();
    }
  });

  test('the controller makes an existing, looser data directory owner-only', async () => {
    const previousUmask = process.umask();
    const data = tempDir('controller-modes');
    try {
      chmodSync(data, 0o755);
      mkdirSync(join(data, 'old'), { mode: 0o755 });
      chmodSync(join(data, 'old'), 0o755);
      writeFileSync(join(data, 'old', 'left-over.json'), '{}');
      chmodSync(join(data, 'old', 'left-over.json'), 0o644);
      const c = await startTestController({ dataDir: data });
      await c.close();
      assert.equal(statSync(data).mode & 0o777, 0o700);
      assert.equal(statSync(join(data, 'old')).mode & 0o777, 0o700);
      assert.equal(statSync(join(data, 'old', 'left-over.json')).mode & 0o777, 0o600);
      assert.equal(statSync(join(data, 'controller.db')).mode & 0o077, 0, 'SQLite owner-only');
    } finally {
      process.umask(previousUmask);
      cleanup(data);
    }
  });
});
