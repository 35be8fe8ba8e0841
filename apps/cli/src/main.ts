#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
import { escapeForTerminal, ValidationError } from '@fleettrace/common';
import { UsageError } from './cli-error';
import { ApiError } from './api-client';
import { attributeToConfigFile } from './config-file';
import { warningsAsJsonLines } from './signals';

type Command = (argv: string[]) => Promise<number>;

/*
 * Commands load their modules only when run: the pipeline commands pull in an
 * embedded ClickHouse and the controller NestJS, which `trace` and `hosts` do
 * not need.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const COMMANDS: Record<string, () => Command> = {
  up: () => require('./commands/up').upCommand,
  'dev-fleet': () => require('./commands/dev-fleet').devFleetCommand,
  trace: () => require('./commands/trace').traceCommand,
  features: () => require('./commands/features').featuresCommand,
  collectors: () => require('./commands/collectors').collectorsCommand,
  ingest: () => require('./commands/ingest').ingestCommand,
  query: () => require('./commands/query').queryCommand,
  top: () => require('./commands/top').topCommand,
  crashes: () => require('./commands/crashes').crashesCommand,
  controller: () => {
    warningsAsJsonLines('controller');
    return require('./commands/controller').controllerCommand;
  },
  agent: () => {
    warningsAsJsonLines('agent');
    return require('./commands/agent').agentCommand;
  },
  hosts: () => require('./commands/hosts').hostsCommand,
  run: () => require('./commands/run').runCommand,
  jobs: () => require('./commands/jobs').jobsCommand,
  job: () => require('./commands/jobs').jobCommand,
  schedule: () => require('./commands/schedule').scheduleCommand,
  token: () => require('./commands/token').tokenCommand,
  audit: () => require('./commands/audit').auditCommand,
  config: () => require('./commands/config').configCommand,
  'clickhouse-users': () => require('./commands/clickhouse-users').clickhouseUsersCommand,
  schema: () => require('./commands/schema').schemaCommand,
};
/* eslint-enable @typescript-eslint/no-require-imports */

const HELP = `usage: fleettrace <command> [options]

  up                  run everything on this machine (controller, ingest with an
                      embedded ClickHouse, the local agent, an always-on job)
  dev-fleet           a fleet on this machine, each part its own process: Kafka,
                      ClickHouse, ingest, the controller and N agents (--agents N)

commands:
  trace <collector>   trace this host with one collector and print a summary
  features            what this kernel supports, and which collectors run here
  collectors          list the collectors

pipeline:
  ingest              consume event batches from the bus into ClickHouse (server or embedded)
  query "SQL"         one read-only SQL statement over the traces (docs/schema.md)
  top                 who used the CPU and the syscalls (--by uid|comm|host, --since 10m)
  crashes             processes killed by signals, OOM kills, fatal signals (--since 1h)

fleet:
  controller          run the control plane (REST API, agent enrollment and streams)
  agent               run the per-host agent (or --simulate N agents)
  hosts               list the agents the controller knows; hosts revoke ID
  run                 run collectors on matching hosts (--wait follows it)
  jobs                list jobs
  job show|cancel ID  one job's per-host runs; cancel it
  schedule create|list|delete
                      continuous profiling on a sample of hosts
  token create|list|revoke
                      API tokens (roles) and bootstrap tokens for agents
  audit               the audit log (admin): --since 1h, --action A, --denied

ClickHouse server:
  clickhouse-users    provision the read-only query users (a users.d file, or SQL
                      for servers with access control)
  schema              the schema's DDL: for one server, or --cluster NAME for
                      sharded and replicated tables (docs/deploy.md)

configuration:
  config check FILE   check a --config file of controller, agent and ingest
                      (docs/config.md); exit 1 on errors

Every command takes --help; commands that print data take --json.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const load = command !== undefined ? COMMANDS[command] : undefined;
  if (load) return load()(rest);
  switch (command) {
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
