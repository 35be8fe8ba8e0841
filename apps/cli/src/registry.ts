// SPDX-License-Identifier: Apache-2.0
/**
 * The top-level commands: name, group and one-line summary, and how to load
 * each one's module. Modules load only when their command runs: the pipeline
 * commands pull in an embedded ClickHouse and the controller NestJS, which
 * `trace` and `hosts` do not need. Each module's definition takes its name,
 * summary and group from here (`listed`), so `fleettrace --help` and the
 * command's own --help say the same.
 */
import { TEXT_COLUMN, wrap, type Command } from './command';
import { warningsAsJsonLines } from './signals';

export interface Listed {
  name: string;
  summary: string;
  group: string;
}

interface Entry extends Listed {
  load: () => Command;
}

/** The groups of `fleettrace --help`, in order; '' is listed first, without a heading. */
export const GROUPS = [
  '',
  'commands',
  'pipeline',
  'fleet',
  'ClickHouse server',
  'configuration',
] as const;

/* eslint-disable @typescript-eslint/no-require-imports */
export const COMMANDS: readonly Entry[] = [
  {
    name: 'up',
    group: '',
    summary:
      'run everything on this machine (controller, ingest with an embedded ClickHouse, the local agent, an always-on job)',
    load: () => require('./commands/up').upCommand,
  },
  {
    name: 'dev-fleet',
    group: '',
    summary:
      'a fleet on this machine, each part its own process: Kafka, ClickHouse, ingest, the controller and N agents',
    load: () => require('./commands/dev-fleet').devFleetCommand,
  },
  {
    name: 'trace',
    group: 'commands',
    summary: 'trace this host with one collector and print a summary',
    load: () => require('./commands/trace').traceCommand,
  },
  {
    name: 'features',
    group: 'commands',
    summary: 'what this kernel supports, and which collectors run here',
    load: () => require('./commands/features').featuresCommand,
  },
  {
    name: 'collectors',
    group: 'commands',
    summary: 'list the collectors',
    load: () => require('./commands/collectors').collectorsCommand,
  },
  {
    name: 'ingest',
    group: 'pipeline',
    summary: 'consume event batches from the bus into ClickHouse (server or embedded)',
    load: () => require('./commands/ingest').ingestCommand,
  },
  {
    name: 'query',
    group: 'pipeline',
    summary: 'one read-only SQL statement over the traces (docs/schema.md)',
    load: () => require('./commands/query').queryCommand,
  },
  {
    name: 'top',
    group: 'pipeline',
    summary: 'who used the CPU and the syscalls (--by uid|comm|host, --since 10m)',
    load: () => require('./commands/top').topCommand,
  },
  {
    name: 'flamegraph',
    group: 'pipeline',
    summary:
      'a flame graph (svg), folded stacks, pprof or speedscope of any selection of stored stacks; differentials',
    load: () => require('./commands/flamegraph').flamegraphCommand,
  },
  {
    name: 'profile',
    group: 'pipeline',
    summary:
      'the functions behind the CPU time (or blocked time) of a user, command or process, perf report-style',
    load: () => require('./commands/profile').profileCommand,
  },
  {
    name: 'crashes',
    group: 'pipeline',
    summary: 'processes killed by signals, OOM kills, fatal signals (--since 1h)',
    load: () => require('./commands/crashes').crashesCommand,
  },
  {
    name: 'controller',
    group: 'fleet',
    summary: 'run the control plane (REST API, agent enrollment and streams)',
    load: () => {
      warningsAsJsonLines('controller');
      return require('./commands/controller').controllerCommand;
    },
  },
  {
    name: 'agent',
    group: 'fleet',
    summary: 'run the per-host agent (or --simulate N agents)',
    load: () => {
      warningsAsJsonLines('agent');
      return require('./commands/agent').agentCommand;
    },
  },
  {
    name: 'hosts',
    group: 'fleet',
    summary: 'list the agents the controller knows; hosts revoke ID',
    load: () => require('./commands/hosts').hostsCommand,
  },
  {
    name: 'run',
    group: 'fleet',
    summary: 'run collectors on matching hosts (--wait follows it)',
    load: () => require('./commands/run').runCommand,
  },
  {
    name: 'jobs',
    group: 'fleet',
    summary: 'list jobs',
    load: () => require('./commands/jobs').jobsCommand,
  },
  {
    name: 'job',
    group: 'fleet',
    summary: "show ID: one job's per-host runs; cancel ID: stop it",
    load: () => require('./commands/jobs').jobCommand,
  },
  {
    name: 'schedule',
    group: 'fleet',
    summary: 'create|list|delete: continuous profiling on a sample of hosts',
    load: () => require('./commands/schedule').scheduleCommand,
  },
  {
    name: 'token',
    group: 'fleet',
    summary: 'create|list|revoke: API tokens (roles) and bootstrap tokens for agents',
    load: () => require('./commands/token').tokenCommand,
  },
  {
    name: 'audit',
    group: 'fleet',
    summary: 'the audit log (admin): --since 1h, --action A, --denied',
    load: () => require('./commands/audit').auditCommand,
  },
  {
    name: 'clickhouse-users',
    group: 'ClickHouse server',
    summary:
      'provision the read-only query users (a users.d file, or SQL for servers with access control)',
    load: () => require('./commands/clickhouse-users').clickhouseUsersCommand,
  },
  {
    name: 'schema',
    group: 'ClickHouse server',
    summary:
      "the schema's DDL: for one server, or --cluster NAME for sharded and replicated tables (docs/deploy.md)",
    load: () => require('./commands/schema').schemaCommand,
  },
  {
    name: 'config',
    group: 'configuration',
    summary:
      'check FILE: check a --config file of controller, agent and ingest (docs/config.md); exit 1 on errors',
    load: () => require('./commands/config').configCommand,
  },
];
/* eslint-enable @typescript-eslint/no-require-imports */

/** The name, summary and group of a listed command, for its definition. */
export function listed(name: string): Listed {
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) throw new Error(`${name} is not in the registry (registry.ts)`);
  return { name: entry.name, summary: entry.summary, group: entry.group };
}

/** `fleettrace --help`: the commands by group. */
export function topLevelHelp(): string {
  const parts = ['usage: fleettrace <command> [options]'];
  for (const group of GROUPS) {
    const lines = COMMANDS.filter((c) => c.group === group).flatMap((c) => {
      return wrap(`  ${c.name}`.padEnd(TEXT_COLUMN), c.summary, TEXT_COLUMN);
    });
    parts.push((group ? `${group}:\n` : '') + lines.join('\n'));
  }
  parts.push('Every command takes --help; commands that print data take --json (docs/cli.md).');
  return parts.join('\n\n');
}
