#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
import { ValidationError } from '@fleettrace/common';
import { UsageError } from './cli-error';
import { collectorsCommand } from './commands/collectors';
import { featuresCommand } from './commands/features';
import { traceCommand } from './commands/trace';

const HELP = `usage: fleettrace <command> [options]

commands:
  trace <collector>   trace this host with one collector and print a summary
  features            what this kernel supports, and which collectors run here
  collectors          list the collectors

Every command takes --help; commands that print data take --json.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'trace':
      return traceCommand(rest);
    case 'features':
      return featuresCommand(rest);
    case 'collectors':
      return collectorsCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP + '\n');
      return command === undefined ? 2 : 0;
    case '--version':
      process.stdout.write('fleettrace 0.1.0\n');
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  }
}

// `fleettrace ... | head` closes stdout early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error & { code?: string };
    if (
      err instanceof UsageError ||
      err instanceof ValidationError ||
      e.code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`fleettrace: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`fleettrace: ${e.message}\n`);
    if (process.env.FLEETTRACE_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  },
);
