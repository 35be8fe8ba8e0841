// SPDX-License-Identifier: Apache-2.0
/**
 * Fleet mode on a Kafka that wants SASL (issue 10: "its bus (Kafka brokers,
 * TLS/SASL)"): a broker whose only client listener is SASL_PLAINTEXT/PLAIN,
 * `fleettrace ingest` and `fleettrace controller` with --kafka-sasl-* and the
 * password in a 0600 file, a real agent with no bus flags (it gets the SASL
 * settings from the controller). The agent's rows and the controller's job
 * changes arrive; ingest with a wrong password says why it cannot start.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execsAs } from '@fleettrace/testing';
import { startAgent, startController, startProcJob, stopCli } from '../harness/cli-process';
import { IngestProcess } from '../harness/ingest-process';
import { KafkaBroker } from '../harness/kafka-broker';
import { LocalProcess, waitFor } from '../harness/local-processes';

const TEST_UID = 53_000 + (process.pid % 4000);
const EXECS = 10;
const SASL = { username: 'fleet', password: 'fleet-sasl-secret' };
const MAIN = resolve(__dirname, '../../../apps/cli/dist/src/main.js');

describe('fleet on a SASL Kafka', { timeout: 300_000 }, () => {
  let broker: KafkaBroker;
  let ingest: IngestProcess | undefined;
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'fleettrace-sasl-'));
  const passwordFile = join(dir, 'kafka-password');
  const wrongFile = join(dir, 'wrong-password');
  const saslFlags = (file: string) => [
    '--kafka-sasl-mechanism',
    'plain',
    '--kafka-sasl-user',
    SASL.username,
    '--kafka-sasl-password-file',
    file,
  ];

  before(async () => {
    writeFileSync(passwordFile, SASL.password + '\n', { mode: 0o600 });
    writeFileSync(wrongFile, 'not-the-password\n', { mode: 0o600 });
    broker = await KafkaBroker.start({ sasl: SASL });
  });
  after(async () => {
    for (const c of children.reverse()) await stopCli(c);
    await ingest?.stop();
    await broker?.destroy();
  });

  test('ingest with a wrong password says SASL refused it, and serves nothing', async () => {
    const p = LocalProcess.start('ingest[wrong password]', process.execPath, [
      MAIN,
      'ingest',
      '--brokers',
      broker.brokers.join(','),
      '--store',
      'embedded',
      '--data',
      mkdtempSync(join(tmpdir(), 'fleettrace-sasl-wrong-')),
      '--http',
      '127.0.0.1:0',
      ...saslFlags(wrongFile),
    ]);
    try {
      await p.waitForOutput(/kafka not ready, retrying: .*(SASL|[Aa]uthentication)/, 60_000);
      assert.doesNotMatch(p.log, /http on /);
    } finally {
      await p.stop('SIGTERM');
    }
  });

  test("the agent takes the controller's SASL settings: its rows and the controller's changes are stored", async () => {
    ingest = await IngestProcess.start({
      bus: 'kafka',
      brokers: broker.brokers,
      store: 'embedded',
      dataDir: mkdtempSync(join(tmpdir(), 'fleettrace-sasl-ingest-')),
      extraArgs: saslFlags(passwordFile),
    });
    const controller = await startController([
      '--data',
      mkdtempSync(join(tmpdir(), 'fleettrace-sasl-ctl-')),
      '--heartbeat',
      '200ms',
      '--brokers',
      broker.brokers.join(','),
      ...saslFlags(passwordFile),
    ]);
    children.push(controller.child);
    const agent = await startAgent(controller, ['--hostname', `sasl-${process.pid}`], {
      name: 'sasl',
    });
    children.push(agent.child);
    await waitFor(
      "the agent on the controller's bus",
      () => /publishing to the controller's bus: kafka/.test(agent.stderr()) || undefined,
      20_000,
      100,
    );

    const id = await startProcJob(controller.env, {
      uid: TEST_UID,
      hosts: `sasl-${process.pid}`,
      duration: '8s',
      runs: 1,
    });
    await execsAs(TEST_UID, EXECS);
    const sql =
      `SELECT (SELECT countIf(event = 'exec') FROM fleettrace.proc FINAL WHERE job_id = '${id}' AND uid = ${TEST_UID}) AS execs, ` +
      `(SELECT count() FROM fleettrace.jobs FINAL WHERE job_id = '${id}') AS jobs`;
    let last: unknown;
    await waitFor(
      'the rows and the job through the SASL bus',
      async () => {
        const r = await ingest!.query(sql);
        last = r.rows[0];
        return JSON.stringify(last) === JSON.stringify([String(EXECS), '1']) || undefined;
      },
      60_000,
      500,
    ).catch(() => assert.deepEqual(last, [String(EXECS), '1']));
  });
});
