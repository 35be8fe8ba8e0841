// SPDX-License-Identifier: Apache-2.0
import { parseDuration, parseInteger } from '@fleettrace/common';
import { cannedQueries } from '@fleettrace/store';
import { defineCommand } from '../command';
import { listed } from '../registry';
import {
  formatResult,
  outputFormat,
  runQuery,
  TARGET_EPILOG,
  TARGET_OPTIONS,
} from './query-target';

export const topCommand = defineCommand({
  ...listed('top'),
  usage:
    '[--by uid|comm|host] [--since 10m] [--hosts a,b] [--limit 20] [--format table|json|csv | --json] <where>',
  description: `Who used the CPU (cpu_profile) and the syscalls (syscalls) across the fleet,
busiest first.`,
  options: {
    by: {
      type: 'string',
      default: 'uid',
      choices: ['uid', 'comm', 'host'],
      help: 'what to add up by',
    },
    since: { type: 'string', default: '10m', placeholder: 'D', help: 'the last D' },
    hosts: { type: 'string', placeholder: 'a,b', help: 'only these hosts' },
    limit: { type: 'string', default: '20', placeholder: 'N', help: 'at most N lines' },
    ...TARGET_OPTIONS,
  },
  data: true,
  epilog: TARGET_EPILOG,
  async run(values) {
    const format = outputFormat(values);
    const sql = cannedQueries.topSql({
      by: values.by,
      sinceS: parseDuration('--since', values.since, { minMs: 1000 }) / 1000,
      hosts: values.hosts
        ?.split(',')
        .map((h) => h.trim())
        .filter(Boolean),
      limit: parseInteger('--limit', values.limit, 1, 1000),
    });
    process.stdout.write(formatResult(await runQuery(values, sql), format));
    return 0;
  },
});
