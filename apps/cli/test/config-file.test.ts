// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseDuration } from '@fleettrace/common';
import { UsageError } from '../src/cli-error';
import { parseArgsOptions } from '../src/command';
import { CONTROLLER_OPTIONS, controllerCommand } from '../src/commands/controller';
import {
  attributeToConfigFile,
  checkConfigFile,
  configOrigin,
  parseServiceArgs,
} from '../src/config-file';
import { configKeys } from '../src/config-keys';
import { configReference } from '../src/config-docs';
import { SERVICES } from '../src/config-services';
import { written } from './output-capture';
import { readSecret } from '../src/secret-flags';

const dir = mkdtempSync(join(tmpdir(), 'fleettrace-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A config file with `text` (mode 0600 unless said), its path. */
function file(text: string, mode = 0o600): string {
  const path = join(dir, `f${++files}.yaml`);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/** checkConfigFile's errors for `text`, with the file's path written as f.yaml. */
function errors(text: string): string[] {
  const path = file(text);
  return checkConfigFile(path).errors.map((e) => e.split(path).join('f.yaml'));
}

const controller = (args: string[]) =>
  parseServiceArgs(
    { name: 'controller', options: CONTROLLER_OPTIONS },
    {
      args,
      strict: true,
      allowPositionals: true,
      options: parseArgsOptions(controllerCommand.options),
    },
  );

describe('checkConfigFile', () => {
  test('a file of the right shape gives each section as flags would', () => {
    const path = file(
      [
        'controller:',
        '  listen: 127.0.0.1:7780',
        '  heartbeat: 5s',
        '  server-name: [a.example, b.example]',
        '  kafka-tls: true',
        '  ca-cert: ca/ca.pem',
        'agent:',
        '  memory-limit: 256',
        '  label: [role=web]',
      ].join('\n'),
    );
    const check = checkConfigFile(path);
    assert.deepEqual(check.errors, []);
    assert.deepEqual(check.warnings, []);
    assert.deepEqual(check.sections, {
      controller: {
        listen: '127.0.0.1:7780',
        heartbeat: '5s',
        'server-name': ['a.example', 'b.example'],
        'kafka-tls': true,
        // relative paths are the file's directory's
        'ca-cert': join(dir, 'ca/ca.pem'),
      },
      // an integer option takes a YAML number
      agent: { 'memory-limit': '256', label: ['role=web'] },
    });
  });

  test('an empty file is every default', () => {
    assert.deepEqual(checkConfigFile(file('')), { sections: {}, errors: [], warnings: [] });
  });

  test('unknown and misspelt keys and sections are named, with the one meant', () => {
    assert.deepEqual(
      errors(
        'controller:\n  hearbeat: 5s\n  state: /x\n  colour: red\ncontrolr:\n  listen: x\nmetrics: {}\n',
      ),
      [
        'f.yaml: controller.hearbeat: unknown key; did you mean heartbeat?',
        'f.yaml: controller.state: unknown key (an option of agent: put it under agent:)',
        'f.yaml: controller.colour: unknown key',
        'f.yaml: controlr: unknown section (expected controller, agent, ingest); did you mean controller?',
        'f.yaml: metrics: unknown section (expected controller, agent, ingest)',
      ],
    );
  });

  test('wrong types for string, boolean and list keys say what was expected and got', () => {
    assert.deepEqual(
      errors(
        [
          'controller:',
          '  heartbeat: 5',
          '  listen: [a, b]',
          '  kafka-tls: yes',
          '  server-name: ctl.example',
          '  data:',
          'agent:',
          '  label: [role=web, 3]',
          'ingest: [bus]',
        ].join('\n'),
      ),
      [
        'f.yaml: controller.heartbeat: expected a string such as "5s", got a number',
        'f.yaml: controller.listen: expected a string (H:P), got a list',
        'f.yaml: controller.kafka-tls: expected true or false, got a string',
        'f.yaml: controller.server-name: expected a list of strings (NAME), got a string',
        'f.yaml: controller.data: expected a string (DIR), got nothing',
        'f.yaml: agent.label[1]: expected a string (K=V), got a number',
        'f.yaml: ingest: expected a map of options, got a list',
      ],
    );
  });

  test('help and config are command-line flags only; a duration is checked for its syntax', () => {
    assert.deepEqual(
      errors('agent:\n  help: true\n  config: other.yaml\ningest:\n  flush-interval: 2 s\n'),
      [
        'f.yaml: agent.help: not allowed in a file (a command-line flag only)',
        'f.yaml: agent.config: not allowed in a file (a command-line flag only)',
        'f.yaml: ingest.flush-interval: must be a duration such as 10s, 500ms or 2m, got "2 s"',
      ],
    );
  });

  test('YAML syntax errors have the line and column', () => {
    assert.deepEqual(errors('controller:\n  listen: a\n  listen: b\n'), [
      'f.yaml:3:3: Map keys must be unique',
    ]);
    assert.match(
      errors('controller:\n  server-name: [a,\n  data: x\n')[0] ?? '',
      /^f\.yaml:3:\d+: /,
    );
    assert.deepEqual(errors('- controller\n'), [
      'f.yaml: expected sections such as controller:, agent:, ingest:, got a list',
    ]);
  });

  test('a secret in a file others can read is taken with a warning, as a readable secret file is', () => {
    const text = 'controller:\n  clickhouse-password: hunter2\n  clickhouse-url: http://ch:8123\n';
    const open = file(text, 0o644);
    const check = checkConfigFile(open);
    assert.deepEqual(check.errors, []);
    assert.equal(check.sections.controller?.['clickhouse-password'], 'hunter2');
    assert.deepEqual(check.warnings, [
      `${open} can be read by other local users (mode 0644) and holds controller.clickhouse-password: chmod 600 ${open}, or give the secret in its -file key`,
    ]);
    assert.deepEqual(checkConfigFile(file(text, 0o600)).warnings, []);
    // A -file key holds a path, not the secret.
    const path = file('agent:\n  token-file: /etc/fleettrace/bootstrap-token\n', 0o644);
    assert.deepEqual(checkConfigFile(path).warnings, []);
  });
});

describe('parseServiceArgs', () => {
  test('the command line overrides the file, which overrides the defaults', () => {
    const path = file(
      'controller:\n  listen: 127.0.0.1:1\n  heartbeat: 2s\n  server-name: [a, b]\n  kafka-tls: true\n',
    );
    const { values } = controller([
      '--config',
      path,
      '--listen',
      '127.0.0.1:2',
      '--server-name',
      'c',
    ]);
    assert.equal(values.listen, '127.0.0.1:2');
    assert.equal(values.heartbeat, '2s');
    // A repeatable flag replaces the file's list.
    assert.deepEqual(values['server-name'], ['c']);
    assert.equal(values['kafka-tls'], true);
    assert.equal(values.data, '/var/lib/fleettrace/controller');
    assert.equal(values.help, false);
    assert.equal(configOrigin('heartbeat'), `${path}: controller.heartbeat`);
    assert.equal(configOrigin('listen'), undefined);
  });

  test('only its own section is read; the file problems are one usage error', () => {
    const path = file('agent:\n  hostname: web-1\ncontroller:\n  lisen: x\n  heartbeat: 1\n');
    assert.throws(
      () => controller(['--config', path]),
      (err: Error) =>
        err instanceof UsageError &&
        err.message ===
          `${path}: controller.lisen: unknown key; did you mean listen?\n${path}: controller.heartbeat: expected a string such as "5s", got a number`,
    );
    const ok = file('agent:\n  hostname: web-1\n');
    assert.equal(controller(['--config', ok]).values.listen, undefined);
  });

  test("a command's error about a value from the file names the file and key", () => {
    const path = file('controller:\n  heartbeat: 1ms\n  clickhouse-url: ftp://ch\n');
    controller(['--config', path, '--lost-after', '1ms']);
    const fromFile = attributeToConfigFile(
      new UsageError('--clickhouse-url: expected http: or https:, got ftp:'),
    ) as Error;
    assert.ok(fromFile instanceof UsageError);
    assert.equal(
      fromFile.message,
      `${path}: controller.clickhouse-url: expected http: or https:, got ftp:`,
    );
    let thrown: unknown;
    try {
      parseDuration('--heartbeat', '1ms', { minMs: 100 });
    } catch (err) {
      thrown = err;
    }
    assert.equal(
      (attributeToConfigFile(thrown) as Error).message,
      `${path}: controller.heartbeat: must be between 100ms and ${Number.MAX_SAFE_INTEGER}ms, got 1ms`,
    );
    // From the command line: as it was.
    const flag = new UsageError('--lost-after: too short');
    assert.equal(attributeToConfigFile(flag), flag);
    // Two flags, one from the file.
    assert.equal(
      (attributeToConfigFile(new UsageError('--lost-after, --heartbeat: give one')) as Error)
        .message,
      `${path}: --lost-after, controller.heartbeat: give one`,
    );
  });

  test('a secret from the file is not warned about as being on the command line', async () => {
    const path = file('controller:\n  clickhouse-password: hunter2\n');
    const { values } = controller(['--config', path]);
    const r = await written(process.stderr, () =>
      readSecret(values, { flag: 'clickhouse-password', env: 'FLEETTRACE_TEST_NONE' }),
    );
    assert.deepEqual(r, { result: 'hunter2', text: '' });
    const inline = controller(['--clickhouse-password', 'x']).values;
    const warned = await written(process.stderr, () =>
      readSecret(inline, { flag: 'clickhouse-password', env: 'FLEETTRACE_TEST_NONE' }),
    );
    assert.match(warned.text, /on the command line can be read by every local user/);
  });
});

describe('docs', () => {
  const root = join(__dirname, '../../../..');

  test('every option of every service says what it means', () => {
    for (const entry of SERVICES)
      for (const key of configKeys(entry.spec()))
        assert.notEqual(key.meaning, '', `${entry.name}.${key.name}: no --help entry`);
  });

  test('docs/config.md has the reference of the current option tables (scripts/gen-config-docs.mjs)', () => {
    const page = readFileSync(join(root, 'docs/config.md'), 'utf8');
    assert.ok(
      page.includes(configReference()),
      'docs/config.md is out of date: run `pnpm build && node scripts/gen-config-docs.mjs`',
    );
  });

  test('the example deploy/config/fleettrace.yaml is valid', () => {
    const check = checkConfigFile(join(root, 'deploy/config/fleettrace.yaml'));
    assert.deepEqual(check.errors, []);
    assert.deepEqual(Object.keys(check.sections), ['controller', 'agent', 'ingest']);
  });
});
