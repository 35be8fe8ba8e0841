// SPDX-License-Identifier: Apache-2.0
/**
 * The command reference of docs/cli.md: `fleettrace --help`, then every
 * command and subcommand of the registry with its --help, generated from the
 * same definitions the CLI runs (command.ts), so the page cannot drift from
 * the commands.
 * scripts/gen-cli-docs.mjs writes it; a test fails when the page differs.
 */
import type { Command } from './command';
import { COMMANDS, GROUPS, topLevelHelp } from './registry';

export const COMMANDS_BEGIN =
  '<!-- generated:commands (scripts/gen-cli-docs.mjs; edit the command definitions in apps/cli/src) -->';
export const COMMANDS_END = '<!-- end generated:commands -->';

export interface CommandAt {
  /** the words after `fleettrace`, e.g. "job show" */
  path: string;
  command: Command;
  /** the registry's group of its top-level command */
  group: string;
}

/** Every command and subcommand, depth first, in the registry's order (loads every module). */
export function allCommands(): CommandAt[] {
  const out: CommandAt[] = [];
  const walk = (command: Command, path: string, group: string) => {
    out.push({ path, command, group });
    for (const sub of command.subcommands) walk(sub, `${path} ${sub.name}`, group);
  };
  for (const entry of COMMANDS) walk(entry.load(), entry.name, entry.group);
  return out;
}

/** The markdown reference, between COMMANDS_BEGIN and COMMANDS_END. */
export function commandReference(commands: readonly CommandAt[] = allCommands()): string {
  const out = [COMMANDS_BEGIN, '', '```text', topLevelHelp(), '```', ''];
  for (const group of GROUPS) {
    const inGroup = commands.filter((c) => c.group === group);
    if (!inGroup.length) continue;
    out.push(`### ${group ? group[0]!.toUpperCase() + group.slice(1) : 'On this machine'}`, '');
    for (const { path, command } of inGroup) {
      out.push(`#### \`fleettrace ${path}\``, '');
      out.push('```text', command.help(path), '```', '');
    }
  }
  out.push(COMMANDS_END);
  return out.join('\n') + '\n';
}
