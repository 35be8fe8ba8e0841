// SPDX-License-Identifier: Apache-2.0
/**
 * `--help` of every command and subcommand of the registry, as a user runs
 * it (the built binary), and docs/cli.md's command reference against the
 * definitions.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { allCommands, commandReference } from '../src/cli-docs';
import { COMMANDS } from '../src/registry';

const root = join(__dirname, '../../../..');
const MAIN = join(__dirname, '../src/main.js');

function fleettrace(args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('fleettrace --help', () => {
  const commands = allCommands();

  test('the registry: every command once, its module defines the command listed', () => {
    assert.equal(new Set(COMMANDS.map((c) => c.name)).size, COMMANDS.length);
    for (const entry of COMMANDS) {
      const command = entry.load();
      assert.equal(command.name, entry.name);
      assert.equal(command.summary, entry.summary);
      assert.equal(command.group, entry.group);
    }
    // The subcommands the task names are there.
    const paths = commands.map((c) => c.path);
    for (const path of [
      'hosts revoke',
      'job show',
      'job cancel',
      'schedule create',
      'schedule list',
      'schedule delete',
      'token create',
      'token list',
      'token revoke',
      'config check',
    ])
      assert.ok(paths.includes(path), path);
  });

  test('every command and subcommand: exit 0, its usage line, --json where it prints data', () => {
    for (const { path, command } of commands) {
      const r = fleettrace([...path.split(' '), '--help']);
      assert.equal(r.status, 0, `${path} --help: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`usage: fleettrace ${path}`), `${path}: ${r.stdout}`);
      assert.equal(r.stdout, command.help(path) + '\n');
      assert.equal(r.stderr, '', path);
      for (const name of Object.keys(command.options))
        assert.match(r.stdout, new RegExp(`--${name}\\b`), `${path} --help lists --${name}`);
      if (command.data) assert.match(r.stdout, /\n {2}--json {2}/, `${path}: --json`);
    }
    const data = commands.filter((c) => c.command.data).map((c) => c.path);
    for (const path of [
      'hosts',
      'jobs',
      'job show',
      'schedule list',
      'token list',
      'audit',
      'collectors',
      'features',
      'top',
      'crashes',
      'query',
      'config check',
    ])
      assert.ok(data.includes(path), `${path} prints data`);
  });

  test('fleettrace --help lists every command by group; no command is exit 2 with that help', () => {
    const help = fleettrace(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: fleettrace <command> \[options\]\n/);
    for (const heading of ['commands:', 'pipeline:', 'fleet:', 'ClickHouse server:'])
      assert.match(help.stdout, new RegExp(`\n\n${heading}\n`));
    for (const entry of COMMANDS) assert.match(help.stdout, new RegExp(`\n {2}${entry.name} +`));
    const none = fleettrace([]);
    assert.equal(none.status, 2);
    assert.equal(none.stdout, help.stdout);
  });

  test('usage errors: exit 2 and the flag, choice or subcommand named', () => {
    const cases: Array<[string[], RegExp]> = [
      [['top', '--by', 'x'], /^fleettrace: --by: expected uid, comm or host, got "x"\n$/],
      [['hosts', '--bogus'], /^fleettrace: --bogus: unknown option of fleettrace hosts/],
      [['token', 'list', '--jsn'], /--jsn: unknown option .*; did you mean --json\?/],
      [['job', 'frob'], /^fleettrace: job: unknown subcommand "frob" \(expected show or cancel\)/],
      [['schedule'], /^fleettrace: schedule needs a subcommand: create, list or delete/],
      [['jobs', 'x'], /^fleettrace: jobs takes no arguments, got "x"/],
    ];
    for (const [args, message] of cases) {
      const r = fleettrace(args);
      assert.equal(r.status, 2, `${args.join(' ')} (stderr: ${r.stderr})`);
      assert.match(r.stderr, message);
    }
  });
});

describe('docs/cli.md', () => {
  test('has the reference of the current command definitions (scripts/gen-cli-docs.mjs)', () => {
    const page = readFileSync(join(root, 'docs/cli.md'), 'utf8');
    assert.ok(
      page.includes(commandReference()),
      'docs/cli.md is out of date: run `pnpm build:ts && node scripts/gen-cli-docs.mjs`',
    );
    const check = spawnSync(process.execPath, [join(root, 'scripts/gen-cli-docs.mjs'), '--check'], {
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, check.stderr);
  });
});
