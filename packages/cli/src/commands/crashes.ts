// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { parseDuration } from '@fleettrace/common';
import { cannedQueries } from '@fleettrace/store';
import { formatResult, runQuery, TARGET_HELP, TARGET_OPTIONS } from './query-target';

const HELP = `usage: fleettrace crashes [--since 1h] [--hosts a,b] [--limit 100] [--format table|json|csv] <where>

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
      format: { type: 'string', default: 'table' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const sql = cannedQueries.crashesSql({
    sinceS: parseDuration('--since', values.since, { minMs: 1000 }) / 1000,
    hosts: values.hosts
      ?.split(',')
      .map((h) => h.trim())
      .filter(Boolean),
    limit: Number(values.limit),
  });
  process.stdout.write(formatResult(await runQuery(values, sql), values.format));
  return 0;
}
