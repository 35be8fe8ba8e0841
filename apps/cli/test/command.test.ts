// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UsageError } from '../src/cli-error';
import { defineCommand, type Command } from '../src/command';
import { written } from './output-capture';

/** The usage error `invoke` throws, or a failure when it does not throw one. */
async function usageError(command: Command, argv: string[], path?: string): Promise<string> {
  try {
    await command.invoke(argv, path);
  } catch (err) {
    assert.ok(err instanceof UsageError, `a UsageError, got ${String(err)}`);
    return err.message;
  }
  assert.fail(`${argv.join(' ')}: no usage error`);
}

const calls: Array<{ values: Record<string, unknown>; positionals: string[] }> = [];

const top = defineCommand({
  name: 'top',
  summary: 'who used the CPU',
  description: 'Who used the CPU, busiest first.',
  options: {
    by: { type: 'string', default: 'uid', choices: ['uid', 'comm', 'host'], help: 'add up by' },
    since: { type: 'string', default: '10m', placeholder: 'D', help: 'the last D' },
    hosts: { type: 'string', multiple: true, placeholder: 'GLOB', help: 'only these hosts' },
    wait: { type: 'boolean', default: false, help: 'follow it' },
  },
  data: true,
  epilog: 'More on where the rows come from.',
  async run(values, positionals) {
    // The values are typed from the definition: a choice is its union, a default makes it set.
    const by: 'uid' | 'comm' | 'host' = values.by;
    const hosts: string[] | undefined = values.hosts;
    calls.push({ values: { ...values, by, hosts }, positionals });
    return values.json ? 3 : 0;
  },
});

const show = defineCommand({
  name: 'show',
  summary: 'one job',
  args: ['ID'],
  options: { server: { type: 'string', placeholder: 'URL', help: 'the API' } },
  data: true,
  async run(values, positionals) {
    calls.push({ values, positionals });
    return 0;
  },
});

const cancel = defineCommand({
  name: 'cancel',
  summary: 'stop a job',
  args: ['ID'],
  options: { reason: { type: 'string', placeholder: 'TEXT', help: 'why' } },
  async run(values, positionals) {
    calls.push({ values, positionals });
    return 5;
  },
});

const job = defineCommand({ name: 'job', summary: 'jobs', subcommands: [show, cancel] });

describe('defineCommand', () => {
  test('--help has the usage line, the description, every option with its default and choices', async () => {
    const { result, text: stdout } = await written(process.stdout, () => top.invoke(['--help']));
    assert.equal(result, 0);
    assert.equal(stdout, top.help() + '\n');
    assert.match(
      stdout,
      /^usage: fleettrace top \[options\]\n\nWho used the CPU, busiest first\.\n/,
    );
    assert.match(stdout, /\n {2}--by uid\|comm\|host {2}add up by \(default uid\)\n/);
    assert.match(stdout, /\n {2}--since D {11}the last D \(default 10m\)\n/);
    assert.match(stdout, /\n {2}--hosts GLOB {8}only these hosts\n/);
    assert.match(stdout, /\n {2}--wait {14}follow it\n/);
    assert.match(stdout, /\n {2}--json {14}print JSON\n/);
    assert.match(stdout, /\n {2}-h, --help {10}this help\n/);
    assert.match(stdout, /\n\nMore on where the rows come from\.\n$/);
    assert.deepEqual(Object.keys(top.options), ['by', 'since', 'hosts', 'wait', 'json', 'help']);
    // -h is --help; --help wins over arguments that would be wrong.
    assert.equal((await written(process.stdout, () => top.invoke(['-h', 'extra']))).result, 0);
  });

  test('runs with the parsed values, defaults filled in; --json is added for a data command', async () => {
    calls.length = 0;
    assert.equal(await top.invoke(['--by', 'comm', '--hosts', 'a', '--hosts', 'b']), 0);
    assert.equal(await top.invoke(['--json']), 3);
    assert.deepEqual(calls[0], {
      values: {
        by: 'comm',
        since: '10m',
        hosts: ['a', 'b'],
        wait: false,
        json: false,
        help: false,
      },
      positionals: [],
    });
    assert.equal(calls[1]?.values.json, true);
    assert.equal(cancel.options.json, undefined, 'not a data command: no --json');
    assert.equal(
      await usageError(cancel, ['1', '--json'], 'job cancel'),
      '--json: unknown option of fleettrace job cancel; fleettrace job cancel --help lists them',
    );
  });

  test('an unknown flag is a usage error that names it, with the option meant when close', async () => {
    assert.equal(
      await usageError(top, ['--bogus']),
      '--bogus: unknown option of fleettrace top; fleettrace top --help lists them',
    );
    assert.equal(
      await usageError(top, ['--snce', '1h']),
      '--snce: unknown option of fleettrace top; did you mean --since?',
    );
    assert.equal(
      await usageError(top, ['-x']),
      '-x: unknown option of fleettrace top; fleettrace top --help lists them',
    );
    assert.equal(await usageError(top, ['--since']), '--since: expected a value');
    assert.equal(await usageError(top, ['--wait=yes']), '--wait: takes no value');
  });

  test('a value outside the choices is a usage error naming the flag and the choices', async () => {
    assert.equal(await usageError(top, ['--by', 'x']), '--by: expected uid, comm or host, got "x"');
  });

  test('arguments are counted', async () => {
    assert.equal(await usageError(top, ['extra']), 'top takes no arguments, got "extra"');
    assert.match(await usageError(job, ['show'], 'job'), /^job show: expected ID\n\nusage: /);
    assert.equal(
      await usageError(job, ['show', '1', '2'], 'job'),
      'job show takes ID only, got also "2"',
    );
  });

  test('subcommands: dispatched on their name wherever it stands among the options', async () => {
    calls.length = 0;
    assert.equal(await job.invoke(['show', '7', '--server', 'http://x']), 0);
    assert.equal(await job.invoke(['--reason', 'done', 'cancel', '8']), 5);
    // An option's value is not taken for the subcommand.
    assert.equal(await job.invoke(['--server', 'cancel', 'show', '9']), 0);
    assert.deepEqual(
      calls.map((c) => [c.positionals, c.values.server ?? c.values.reason]),
      [
        [['7'], 'http://x'],
        [['8'], 'done'],
        [['9'], 'cancel'],
      ],
    );
  });

  test('an unknown or missing subcommand is a usage error naming the ones there are', async () => {
    const unknown = await usageError(job, ['frob', '1']);
    assert.match(unknown, /^job: unknown subcommand "frob" \(expected show or cancel\)\n\n/);
    assert.match(await usageError(job, []), /^job needs a subcommand: show or cancel\n\n/);
    assert.match(
      await usageError(job, ['shwo', '1']),
      /^job: unknown subcommand "shwo" \(expected show or cancel\); did you mean show\?\n\n/,
    );
  });

  test("the subcommands' help: the parent lists them, each has its own", async () => {
    const parent = job.help();
    assert.match(
      parent,
      /^usage: fleettrace job show ID \[options\]\n {7}fleettrace job cancel ID \[options\]\n/,
    );
    assert.match(parent, /\nsubcommands:\n {2}show {16}one job\n {2}cancel {14}stop a job\n/);
    const { result, text: stdout } = await written(process.stdout, () =>
      job.invoke(['show', '--help'], 'job'),
    );
    assert.equal(result, 0);
    assert.match(stdout, /^usage: fleettrace job show ID \[options\]\n/);
    assert.match(stdout, /\n {2}--json {14}print JSON\n/);
    assert.equal(
      (await written(process.stdout, () => job.invoke(['--help'], 'job'))).text,
      parent + '\n',
    );
  });

  test('a custom parser (a --config file) gets the parseArgs options; its errors name the flag', async () => {
    let given: unknown;
    const service = defineCommand({
      name: 'svc',
      summary: 'a service',
      options: { listen: { type: 'string', default: ':1', placeholder: 'H:P', help: 'where' } },
      parse(argv, options) {
        given = options;
        if (argv.includes('--nope'))
          throw Object.assign(new Error("Unknown option '--nope'"), {
            code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION',
          });
        return { values: { listen: 'from-file', help: false }, positionals: [] };
      },
      async run(values) {
        return values.listen === 'from-file' ? 0 : 1;
      },
    });
    assert.equal(await service.invoke([]), 0);
    assert.deepEqual(given, {
      listen: { type: 'string', default: ':1' },
      help: { type: 'boolean', short: 'h', default: false },
    });
    assert.match(
      await usageError(service, ['--nope']),
      /^--nope: unknown option of fleettrace svc/,
    );
  });
});
