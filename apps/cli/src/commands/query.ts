// SPDX-License-Identifier: Apache-2.0
import { parseArgs } from 'node:util';
import { UsageError } from '../cli-error';
import { formatResult, outputFormat, runQuery, TARGET_HELP, TARGET_OPTIONS } from './query-target';

const HELP = `usage: fleettrace query "SQL" [--format table|json|csv | --json] <where>

Runs one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement over the traces
(tables: docs/schema.md). Table functions other than numbers(), zeros() and
the like, SETTINGS, FORMAT and INTO OUTFILE are refused; time, memory, rows
and result size are limited.

${TARGET_HELP}`;

export async function queryCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one SQL argument\n\n${HELP}`);
  const format = outputFormat(values);
  const result = await runQuery(values, positionals[0]!);
  process.stdout.write(formatResult(result, format));
  return 0;
}
