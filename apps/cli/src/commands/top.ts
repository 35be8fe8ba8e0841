// SPDX-License-Identifier: Apache-2.0
import { parseInteger, renderTable } from '@fleettrace/common';
import { cannedQueries, type QueryResult } from '@fleettrace/store';
import { toJson } from '../cli-error';
import { defineCommand } from '../command';
import { listed } from '../registry';
import {
  cannedOptions,
  cannedScope,
  formatResult,
  outputFormat,
  runQuery,
  TARGET_EPILOG,
  TARGET_OPTIONS,
} from './query-target';

type Row = Record<string, unknown>;

const rowsOf = (r: QueryResult): Row[] =>
  r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]])));

export const topCommand = defineCommand({
  ...listed('top'),
  usage:
    '[--by uid|comm|host] [--since 10m] [--hosts a,b] [--limit 20] [--stacks [--functions 3]] [--format table|json|csv | --json] <where>',
  description: `Who used the CPU (cpu_profile) and the syscalls (syscalls) across the fleet,
busiest first. SYSCALL_S is time in syscalls that work; WAIT_S is time in syscalls that
wait for something else (epoll_wait, poll, futex, sleeps, waits for children, accept), so
an idle daemon does not look busy. With --stacks, the hottest functions behind each
row's CPU time: self (the function itself) and total (it and what it called).`,
  options: {
    by: {
      type: 'string',
      default: 'uid',
      choices: ['uid', 'comm', 'host'],
      help: 'what to add up by',
    },
    ...cannedOptions('10m', '20'),
    stacks: {
      type: 'boolean',
      default: false,
      help: 'also the hottest functions of each row (a `functions` list per row with --json)',
    },
    functions: {
      type: 'string',
      default: '3',
      placeholder: 'N',
      help: 'functions per row with --stacks',
    },
    ...TARGET_OPTIONS,
  },
  data: true,
  epilog: TARGET_EPILOG,
  run: async (values) => {
    const format = outputFormat(values);
    const scope = cannedScope(values, 1000);
    const perKey = parseInteger('--functions', values.functions, 1, 50);
    const top = await runQuery(values, cannedQueries.topSql({ by: values.by, ...scope }));
    if (!values.stacks) {
      process.stdout.write(formatResult(top, format));
      return 0;
    }
    const rows = rowsOf(top);
    const key = values.by;
    const fns = rows.length
      ? rowsOf(
          await runQuery(
            values,
            cannedQueries.topFunctionsSql({
              by: values.by,
              sinceS: scope.sinceS,
              hosts: scope.hosts,
              keys: rows.map((r) => r[key] as string | number),
              perKey,
            }),
          ),
        )
      : [];
    const functionsOf = (r: Row) =>
      fns
        .filter((f) => String(f[key]) === String(r[key]))
        .map((f) => ({
          function: f.function as string,
          self_s: Number(f.self_s),
          total_s: Number(f.total_s),
        }));
    if (format === 'json') {
      process.stdout.write(toJson(rows.map((r) => ({ ...r, functions: functionsOf(r) }))) + '\n');
      return 0;
    }
    process.stdout.write(formatResult(top, format));
    if (format === 'csv') return 0;
    const lines = rows.flatMap((r) =>
      functionsOf(r).map((f) => [
        String(r[key]),
        f.function,
        f.self_s.toFixed(2),
        f.total_s.toFixed(2),
      ]),
    );
    process.stdout.write(
      `\nhottest functions (weighted CPU seconds):\n` +
        renderTable([key.toUpperCase(), 'FUNCTION', 'SELF_S', 'TOTAL_S'], lines) +
        '\n',
    );
    return 0;
  },
});
