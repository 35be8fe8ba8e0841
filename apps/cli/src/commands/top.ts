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
    ...cannedOptions('10m', '20'),
    ...TARGET_OPTIONS,
  },
  data: true,
  epilog: TARGET_EPILOG,
  run: (values) =>
    printQuery(values, () => cannedQueries.topSql({ by: values.by, ...cannedScope(values, 1000) })),
});
