// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { parseDuration, parseInteger } from '@fleettrace/common';
import { cannedQueries, type cannedQueries as Canned } from '@fleettrace/store';
import { UsageError } from '../cli-error';
import { formatResult, outputFormat, runQuery, TARGET_HELP, TARGET_OPTIONS } from './query-target';

const HELP = `usage: fleettrace top [--by uid|comm|host] [--since 10m] [--hosts a,b] [--limit 20]
                     [--format table|json|csv | --json] <where>

Who used the CPU (cpu_profile) and the syscalls (syscalls) across the fleet,
busiest first.

${TARGET_HELP}`;

export async function topCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...TARGET_OPTIONS,
      by: { type: 'string', default: 'uid' },
      since: { type: 'string', default: '10m' },
      hosts: { type: 'string' },
      limit: { type: 'string', default: '20' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (!['uid', 'comm', 'host'].includes(values.by))
    throw new UsageError(`--by: expected uid, comm or host, got ${JSON.stringify(values.by)}`);
  const format = outputFormat(values);
  const sql = cannedQueries.topSql({
    by: values.by as Canned.TopDimension,
    sinceS: parseDuration('--since', values.since, { minMs: 1000 }) / 1000,
    hosts: values.hosts
      ?.split(',')
      .map((h) => h.trim())
      .filter(Boolean),
    limit: parseInteger('--limit', values.limit, 1, 1000),
  });
  process.stdout.write(formatResult(await runQuery(values, sql), format));
  return 0;
}
