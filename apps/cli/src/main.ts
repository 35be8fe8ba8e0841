#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
import { escapeForTerminal, ValidationError } from '@fleettrace/common';
import { UsageError } from './cli-error';
import { nearest } from './command';
import { ApiError } from './api-client';
import { attributeToConfigFile } from './config-file';
import { COMMANDS, topLevelHelp } from './registry';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const entry = COMMANDS.find((c) => c.name === command);
  if (entry) return entry.load().invoke(rest);
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(topLevelHelp() + '\n');
      return command === undefined ? 2 : 0;
    case '--version':
      process.stdout.write('fleettrace 0.1.0\n');
      return 0;
    default: {
      const near = nearest(
        command,
        COMMANDS.map((c) => c.name),
      );
      throw new UsageError(
        `unknown command ${JSON.stringify(command)}${near ? `; did you mean ${near}?` : ''}\n\n${topLevelHelp()}`,
      );
    }
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
  (thrown: unknown) => {
    // A bad value from a --config file is said of the file and key, not of a flag.
    const err = attributeToConfigFile(thrown);
    // `code` is a string for Node's errors and a number for gRPC statuses (a refused enrollment).
    const e = err as Error & { code?: unknown };
    // Messages may quote what a customer chose (a host name, a label, a job's reason);
    // a usage error's own lines (the help text) stay lines.
    const message = String(e?.message ?? err)
      .split('\n')
      .map(escapeForTerminal)
      .join('\n');
    if (err instanceof ApiError) {
      // A 4xx is a request the controller refused (its message names the field): a usage error.
      process.stderr.write(`fleettrace: ${message}\n`);
      process.exitCode = err.status >= 400 && err.status < 500 ? 2 : 1;
      return;
    }
    if (
      err instanceof UsageError ||
      err instanceof ValidationError ||
      (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS'))
    ) {
      process.stderr.write(`fleettrace: ${message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`fleettrace: ${message}\n`);
    if (process.env.FLEETTRACE_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  },
);
