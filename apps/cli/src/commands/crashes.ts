// SPDX-License-Identifier: Apache-2.0
import { cannedQueries } from '@fleettrace/store';
import { defineCommand } from '../command';
import { listed } from '../registry';
import {
  cannedOptions,
  cannedScope,
  printQuery,
  TARGET_EPILOG,
  TARGET_OPTIONS,
} from './query-target';

export const crashesCommand = defineCommand({
  ...listed('crashes'),
  usage: '[--since 1h] [--hosts a,b] [--limit 100] [--format table|json|csv | --json] <where>',
  description: `Processes that died by a signal, OOM kills, and fatal signals with sender and
target, newest first (from the proc collector).`,
  options: {
    ...cannedOptions('1h', '100'),
    ...TARGET_OPTIONS,
  },
  data: true,
  epilog: TARGET_EPILOG,
  run: (values) => printQuery(values, () => cannedQueries.crashesSql(cannedScope(values, 10_000))),
});
