// SPDX-License-Identifier: Apache-2.0
import { parseInteger, renderTable } from '@fleettrace/common';
import { cannedQueries } from '@fleettrace/store';
import { toJson, UsageError } from '../cli-error';
import { defineCommand } from '../command';
import { listed } from '../registry';
import {
  cannedOptions,
  cannedScope,
  outputFormat,
  runQuery,
  TARGET_EPILOG,
  TARGET_OPTIONS,
} from './query-target';

/** `fn (module)` as its two parts; an unsymbolized `module+0xoff` has no function name. */
function splitFrame(frame: string): { symbol: string; module: string } {
  const m = /^(.*) \((.*)\)$/.exec(frame);
  return m ? { symbol: m[1]!, module: m[2]! } : { symbol: frame, module: '' };
}

const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : 0);

export const profileCommand = defineCommand({
  ...listed('profile'),
  usage:
    '[--uid N] [--comm NAME] [--pid N] [--job ID] [--hosts a,b] [--since 10m] [--offcpu] [--limit 30] [--json] <where>',
  description: `The functions behind the sampled CPU time of a selection (or, with --offcpu, its
time blocked off the CPU), like \`perf report --children\`: TOTAL is the share of the
selection's time with the function anywhere on the stack (it and what it called), SELF the
share spent in the function itself. Times are weighted seconds (sampled schedules and duty
cycles count at fleet scale); stacks the agents could not take count in the whole, not in
any function.`,
  options: {
    uid: { type: 'string', placeholder: 'N', help: 'only this user id' },
    comm: { type: 'string', placeholder: 'NAME', help: 'only processes with this command name' },
    pid: { type: 'string', placeholder: 'N', help: 'only this process' },
    job: { type: 'string', placeholder: 'ID', help: "only this job's rows" },
    offcpu: {
      type: 'boolean',
      default: false,
      help: 'time blocked off the CPU (offcpu) instead of CPU time (cpu_profile)',
    },
    ...cannedOptions('10m', '30'),
    ...TARGET_OPTIONS,
  },
  data: true,
  epilog: TARGET_EPILOG,
  run: async (values) => {
    const format = outputFormat(values);
    if (format === 'csv') throw new UsageError('--format: profile prints table or json');
    const scope = cannedScope(values, 1000);
    const sql = cannedQueries.profileFunctionsSql({
      collector: values.offcpu ? 'offcpu' : 'cpu_profile',
      sinceS: scope.sinceS,
      hosts: scope.hosts,
      limit: scope.limit,
      uid: values.uid === undefined ? undefined : parseInteger('--uid', values.uid, 0, 4294967295),
      pid: values.pid === undefined ? undefined : parseInteger('--pid', values.pid, 1, 4194304),
      comm: values.comm,
      jobId: values.job,
    });
    const r = await runQuery(values, sql);
    const rows = r.rows.map((row) => {
      const o = Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]]));
      const all = Number(o.all_s);
      return {
        ...splitFrame(String(o.function)),
        total_pct: pct(Number(o.total_s), all),
        self_pct: pct(Number(o.self_s), all),
        total_s: Number(o.total_s),
        self_s: Number(o.self_s),
        all_s: all,
      };
    });
    if (format === 'json') {
      process.stdout.write(toJson(rows) + '\n');
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write('no stacks in this selection\n');
      return 0;
    }
    process.stdout.write(
      renderTable(
        ['TOTAL', 'SELF', 'TOTAL_S', 'SELF_S', 'SYMBOL', 'MODULE'],
        rows.map((x) => [
          `${x.total_pct.toFixed(2)}%`,
          `${x.self_pct.toFixed(2)}%`,
          x.total_s.toFixed(2),
          x.self_s.toFixed(2),
          x.symbol,
          x.module,
        ]),
      ) + `\n(of ${rows[0]!.all_s.toFixed(2)} s ${values.offcpu ? 'blocked' : 'on CPU'})\n`,
    );
    return 0;
  },
});
