// SPDX-License-Identifier: Apache-2.0
import { defineCommand } from '../command';
import { listed } from '../registry';
import { printQuery, TARGET_EPILOG, TARGET_OPTIONS } from './query-target';

export const queryCommand = defineCommand({
  ...listed('query'),
  args: ['"SQL"'],
  usage: '"SQL" [--format table|json|csv | --json] <where>',
  description: `Runs one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement over the traces
(tables: docs/schema.md). Table functions other than numbers(), zeros() and
the like, SETTINGS, FORMAT and INTO OUTFILE are refused; time, memory, rows
and result size are limited.`,
  options: TARGET_OPTIONS,
  data: true,
  epilog: TARGET_EPILOG,
  run: (values, [sql]) => printQuery(values, () => sql!),
});
