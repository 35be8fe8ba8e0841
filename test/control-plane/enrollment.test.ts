// SPDX-License-Identifier: Apache-2.0
/**
 * Enrollment over real gRPC and TLS on loopback: a fresh bootstrap token
 * works once; a reused, expired or revoked one is refused; a token whose CA
 * hash is not the controller's makes the agent refuse to enroll before it
 * sends anything but GetCa.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import { enroll, EnrollError, StateDir } from '@fleettrace/agent';
import { adminApi, bootstrapToken, startTestController, tempDir, type Api } from './harness';

describe('enrollment', () => {
  let c: RunningController;
  let api: Api;
  before(async () => {
    c = await startTestController();
    api = adminApi(c);
  });
  after(() => c.close());

  const enrollWith = (token: string, hostname: string) =>
    enroll({
      address: c.enrollAddress,
      token,
      hostname,
      labels: { role: 'web' },
      state: StateDir.open(tempDir('enroll')),
    });

  test('a fresh token enrolls once; the certificate names the agent and chains to the CA', async () => {
    const token = await bootstrapToken(api);
    assert.match(token, /^ftboot\.[0-9a-f]{12}\.[A-Za-z0-9_-]+\.sha256-[0-9a-f]{64}$/);
    assert.ok(token.endsWith(c.caHash), 'the token carries the CA hash');
    const state = StateDir.open(tempDir('enroll'));
    const identity = await enroll({
      address: c.enrollAddress,
      token,
      hostname: 'web-1',
      labels: { role: 'web' },
      state,
    });
    assert.match(identity.agent_id, /^agt_[0-9a-f]{16}$/);
    assert.equal(identity.control_address, c.controlAddress);
    const cert = new X509Certificate(state.readCredentials().certPem);
    assert.match(cert.subject, new RegExp(`CN=${identity.agent_id}`));
    assert.ok(cert.verify(new X509Certificate(c.caPem).publicKey), 'signed by the controller CA');
    const agent = (
      await api.get<{ hostname: string; state: string; labels: Record<string, string> }>(
        `/api/v1/agents/${identity.agent_id}`,
      )
    ).body;
    assert.equal(agent.hostname, 'web-1');
    assert.equal(agent.state, 'enrolled');
    assert.deepEqual(agent.labels, { role: 'web' });
    state.close();

    await assert.rejects(enrollWith(token, 'web-2'), (err: Error) => {
      assert.ok(err instanceof EnrollError);
      assert.match(err.message, /bootstrap token was already used/);
      return true;
    });
  });

  test('a token with another CA hash is refused by the agent before enrolling', async () => {
    const token = await bootstrapToken(api);
    const forged = token.replace(/sha256-[0-9a-f]{64}$/, `sha256-${'ab'.repeat(32)}`);
    await assert.rejects(
      enrollWith(forged, 'web-3'),
      /presents a CA whose hash is sha256-[0-9a-f]{64}, but the token expects sha256-(ab)+/,
    );
    // Nothing was redeemed: the genuine token still works.
    await enrollWith(token, 'web-3');
  });

  test('a multi-use token allows exactly its count', async () => {
    const token = await bootstrapToken(api, 2);
    await enrollWith(token, 'sim-a');
    await enrollWith(token, 'sim-b');
    await assert.rejects(enrollWith(token, 'sim-c'), /used up \(2 uses\)/);
  });

  test('expired, revoked, unknown and malformed tokens are refused', async () => {
    const expiring = await bootstrapToken(api, 1, '1s');
    await new Promise((r) => setTimeout(r, 1_100));
    await assert.rejects(enrollWith(expiring, 'late-1'), /bootstrap token expired/);

    const revoked = await bootstrapToken(api);
    const id = revoked.split('.')[1] as string;
    assert.equal((await api.delete(`/api/v1/tokens/${id}`)).status, 200);
    await assert.rejects(enrollWith(revoked, 'late-2'), /bootstrap token was revoked/);

    const unknown = revoked.replace(/\.([A-Za-z0-9_-]+)\.sha256/, `.${'x'.repeat(43)}.sha256`);
    await assert.rejects(enrollWith(unknown, 'late-3'), /unknown bootstrap token/);
    await assert.rejects(
      enrollWith('ftboot.nonsense', 'late-4'),
      /--token: must be a bootstrap token/,
    );
  });

  test('audit records every enrollment', async () => {
    const { body } = await api.get<{
      entries: Array<{ action: string; target: { hostname: string } }>;
    }>('/api/v1/audit?action=agent.enroll');
    const hosts = body.entries.map((e) => e.target.hostname).sort();
    assert.deepEqual(hosts, ['sim-a', 'sim-b', 'web-1', 'web-3']);
  });
});
