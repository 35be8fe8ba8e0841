// SPDX-License-Identifier: Apache-2.0
/**
 * The chart's migration Job, run as rendered against a real Kafka broker and
 * ClickHouse server: its shell script starts `fleettrace ingest` with the
 * rendered arguments, waits for the HTTP endpoint, stops ingest and exits 0,
 * and the schema is in ClickHouse afterwards. Only the image's paths are
 * mapped to this checkout (the CLI, the data directory) and the loopback port
 * is a free one.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClickHouseServer } from '../harness/clickhouse-server';
import { KafkaBroker } from '../harness/kafka-broker';
import { freePort } from '../harness/local-processes';
import { REPO, find, renderedObjects, runCheck, valuesFile } from './helm-check';

interface JobContainer {
  command: string[];
  args: string[];
  env?: Array<{ name: string; value?: string }>;
}

describe('helm chart: migration Job', () => {
  let clickhouse: ClickHouseServer;
  let kafka: KafkaBroker;
  before(async () => {
    [clickhouse, kafka] = await Promise.all([ClickHouseServer.start(), KafkaBroker.start()]);
  });
  after(async () => {
    await Promise.all([clickhouse?.destroy(), kafka?.destroy()]);
  });

  it('applies the migrations with the rendered script and arguments, then exits 0', async () => {
    const values = valuesFile(
      'local-services',
      `kafka:\n  brokers: [${JSON.stringify(kafka.brokers[0])}]\n` +
        `clickhouse:\n  url: ${JSON.stringify(clickhouse.url)}\n`,
    );
    const check = runCheck(values);
    assert.equal(check.status, 0, check.output);
    const job = find(renderedObjects(check, 'local-services'), 'Job', 'migrate');
    const container = job.spec!.template!.spec.containers[0] as unknown as JobContainer;
    assert.ok(container.args.includes(clickhouse.url), container.args.join(' '));

    const data = mkdtempSync(join(tmpdir(), 'fleettrace-migrate-'));
    const script = container.command[2]!.replaceAll(
      '/opt/fleettrace/bin/fleettrace',
      join(REPO, 'bin/fleettrace'),
    );
    const args = container.args.map((a) => (a === '/var/lib/fleettrace/ingest' ? data : a));
    const port = await freePort();
    const [shell, flag, , name] = container.command;
    const env: NodeJS.ProcessEnv = { ...process.env, HTTP_PORT: String(port) };
    assert.equal(container.env?.find((e) => e.name === 'HTTP_PORT')?.value, '7421');

    const child = spawn(shell!, [flag!, script, name!, ...args], { env });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    rmSync(data, { recursive: true, force: true });
    assert.equal(status, 0, output);
    assert.match(output, /migrate: schema migrations applied; stopping ingest/);

    const r = await fetch(
      `${clickhouse.url}/?query=${encodeURIComponent(
        'SELECT count() FROM fleettrace.schema_migrations',
      )}`,
    );
    assert.equal(r.status, 200);
    assert.ok(Number((await r.text()).trim()) > 0, 'no migration recorded');
  });
});
