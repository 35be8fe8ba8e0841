// SPDX-License-Identifier: Apache-2.0
/**
 * The AgentControl listener accepts only mutual TLS with a certificate of a
 * registered, unrevoked agent: no client certificate, a revoked one and an
 * expired one are all refused; an agent whose certificate nears expiry
 * renews it and keeps running its job.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AgentControlClient, type ControllerMessage } from '@fleettrace/proto';
import type { RunningController } from '@fleettrace/controller' with { 'resolution-mode': 'import' };
import { enroll, StateDir } from '@fleettrace/agent';
import {
  adminApi,
  agentState,
  bootstrapToken,
  job,
  startSimulated,
  startTestController,
  tempDir,
  waitFor,
  type Api,
} from './harness';

/** Opens Connect with `creds`, sends Hello, resolves with the first message or rejects with the stream's error. */
function tryConnect(
  address: string,
  creds: ReturnType<typeof credentials.createSsl>,
  agentId: string,
): Promise<ControllerMessage> {
  const client = new AgentControlClient(address, creds);
  const stream = client.connect();
  return new Promise<ControllerMessage>((resolve, reject) => {
    stream.on('data', (m: ControllerMessage) => resolve(m));
    stream.on('error', (e: ServiceError) => reject(e));
    stream.write({
      body: {
        $case: 'hello',
        value: {
          agentId,
          runs: [],
          facts: {
            hostname: 'probe',
            labels: {},
            kernel: '',
            features: [],
            missingFeatures: {},
            collectors: [],
            cpus: 1,
            agentVersion: 'test',
          },
        },
      },
    });
  }).finally(() => {
    stream.cancel();
    client.close();
  });
}

async function enrolled(c: RunningController, api: Api, hostname: string) {
  const state = StateDir.open(tempDir('mtls'));
  const identity = await enroll({
    address: c.enrollAddress,
    token: await bootstrapToken(api),
    hostname,
    labels: {},
    state,
  });
  const { keyPem, certPem } = state.readCredentials();
  const creds = credentials.createSsl(
    Buffer.from(c.caPem),
    Buffer.from(keyPem),
    Buffer.from(certPem),
  );
  return { identity, creds, state };
}

describe('mutual TLS on the control listener', () => {
  const controllers: RunningController[] = [];
  after(async () => {
    for (const c of controllers) await c.close();
  });

  test('a valid certificate gets Welcome; none, a revoked one, an expired one are refused', async () => {
    const c = await startTestController({ clientCertLifetimeMs: 3_000 });
    controllers.push(c);
    const api = adminApi(c);

    const good = await enrolled(c, api, 'good-1');
    const welcome = await tryConnect(c.controlAddress, good.creds, good.identity.agent_id);
    assert.equal(welcome.body?.$case, 'welcome');

    // No client certificate: TLS itself refuses (the handshake fails, the call never starts).
    await assert.rejects(
      tryConnect(
        c.controlAddress,
        credentials.createSsl(Buffer.from(c.caPem)),
        good.identity.agent_id,
      ),
      (e: ServiceError) => e.code === status.UNAVAILABLE,
    );

    const revoked = await enrolled(c, api, 'revoked-1');
    const r = await api.post(`/api/v1/agents/${revoked.identity.agent_id}/revoke`, {
      reason: 'test',
    });
    assert.equal(r.status, 200);
    await assert.rejects(
      tryConnect(c.controlAddress, revoked.creds, revoked.identity.agent_id),
      (e: ServiceError) => {
        assert.equal(e.code, status.PERMISSION_DENIED);
        assert.match(e.details, /was revoked/);
        return true;
      },
    );

    const expiring = await enrolled(c, api, 'expiring-1');
    await new Promise((res) => setTimeout(res, 3_300));
    await assert.rejects(
      tryConnect(c.controlAddress, expiring.creds, expiring.identity.agent_id),
      (e: ServiceError) => e.code === status.UNAVAILABLE || e.code === status.PERMISSION_DENIED,
      'an expired certificate fails the TLS handshake',
    );
  });

  test('an agent renews its 5 s certificate before expiry and keeps running its job', async () => {
    const c = await startTestController({ clientCertLifetimeMs: 5_000 });
    controllers.push(c);
    const api = adminApi(c);
    const fleet = await startSimulated(c, api, 1, { hostname: 'renew' });
    try {
      const agent = fleet.agents[0]!;
      const serials: string[] = [];
      agent.connection.on('renewed', () => serials.push('renewed'));
      await waitFor(
        'connected',
        async () => (await agentState(api, agent.agentId)) === 'connected',
      );
      const created = await api.post<{ id: string }>('/api/v1/jobs', {
        targets: { hosts: ['renew-*'] },
        collectors: [{ name: 'syscalls' }],
        duration: '12s',
      });
      assert.equal(created.status, 201);
      const first = (
        await api.get<{ certificate: { serial: string } }>(`/api/v1/agents/${agent.agentId}`)
      ).body.certificate.serial;
      // 12 s spans more than two 5 s lifetimes: without renewal the stream would be cut.
      const done = await waitFor(
        'job finished',
        async () => {
          const j = await job(api, created.body.id);
          return j.state === 'finished' ? j : undefined;
        },
        20_000,
        200,
      );
      assert.equal(done.runs.length, 1);
      assert.equal(done.runs[0]!.state, 'finished', `run reason: ${done.runs[0]!.reason}`);
      assert.ok(done.runs[0]!.events_sent > 0);
      assert.ok(serials.length >= 2, `renewed ${serials.length} times`);
      const last = (
        await api.get<{ certificate: { serial: string } }>(`/api/v1/agents/${agent.agentId}`)
      ).body.certificate.serial;
      assert.notEqual(last, first, 'the registry holds the renewed certificate');
      assert.equal(await agentState(api, agent.agentId), 'connected');
    } finally {
      await fleet.close();
    }
  });
});
