// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { parseDuration, parseInteger } from '@fleettrace/common';
import { cannedQueries } from '@fleettrace/store';
import { formatResult, outputFormat, runQuery, TARGET_HELP, TARGET_OPTIONS } from './query-target';

const HELP = `usage: fleettrace crashes [--since 1h] [--hosts a,b] [--limit 100] [--format table|json|csv | --json] <where>

Processes that died by a signal, OOM kills, and fatal signals with sender and
target, newest first (from the proc collector).

${TARGET_HELP}`;

export async function crashesCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...TARGET_OPTIONS,
      since: { type: 'string', default: '1h' },
      hosts: { type: 'string' },
      limit: { type: 'string', default: '100' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const format = outputFormat(values);
  const sql = cannedQueries.crashesSql({
    sinceS: parseDuration('--since', values.since, { minMs: 1000 }) / 1000,
    hosts: values.hosts
      ?.split(',')
      .map((h) => h.trim())
      .filter(Boolean),
    limit: parseInteger('--limit', values.limit, 1, 10_000),
  });
  process.stdout.write(formatResult(await runQuery(values, sql), format));
  return 0;
}
