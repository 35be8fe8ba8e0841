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

export const crashesCommand = defineCommand({
  ...listed('crashes'),
  usage: '[--since 1h] [--hosts a,b] [--limit 100] [--format table|json|csv | --json] <where>',
  description: `Processes that died by a signal, OOM kills, and fatal signals with sender and
target, newest first (from the proc collector).`,
  options: {
    since: { type: 'string', default: '1h', placeholder: 'D', help: 'the last D' },
    hosts: { type: 'string', placeholder: 'a,b', help: 'only these hosts' },
    limit: { type: 'string', default: '100', placeholder: 'N', help: 'at most N lines' },
    ...TARGET_OPTIONS,
  },
  data: true,
  epilog: TARGET_EPILOG,
  async run(values) {
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
  },
});
