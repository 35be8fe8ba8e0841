// SPDX-License-Identifier: Apache-2.0
import { writeFileSync } from 'node:fs';
import { ValidationError } from '@fleettrace/common';
import {
  DIFF_FORMATS,
  exportDiff,
  exportProfile,
  PROFILE_FORMATS,
  rowSourceOf,
  type DiffFormat,
  type SelectionInput,
} from '@fleettrace/profiles';
import { UsageError } from '../cli-error';
import { defineCommand } from '../command';
import { listed } from '../registry';
import { runQuery, TARGET_EPILOG, TARGET_OPTIONS } from './query-target';

// --format here is the profile's; the rows' formats of query/top do not apply.
const { format: _rowsFormat, json: _json, ...WHERE_OPTIONS } = TARGET_OPTIONS;

/** The selection fields a flag sets, and the baseline's (--base-X) of a differential. */
const SELECTION_FLAGS = ['since', 'until', 'job', 'hosts', 'uid', 'pid', 'comm', 'state'] as const;
const FIELD: Record<(typeof SELECTION_FLAGS)[number], string> = {
  since: 'since',
  until: 'until',
  job: 'job_id',
  hosts: 'hosts',
  uid: 'uid',
  pid: 'pid',
  comm: 'comm',
  state: 'state',
};

const SELECTION_OPTIONS = {
  since: {
    type: 'string',
    default: '1h',
    placeholder: 'T',
    help: 'from: a duration back (10m) or an RFC 3339 time',
  },
  until: {
    type: 'string',
    placeholder: 'T',
    help: 'to (default now): a duration back or an RFC 3339 time',
  },
  job: { type: 'string', placeholder: 'ID', help: "only this job's rows" },
  hosts: { type: 'string', placeholder: 'a,b', help: 'only these hosts' },
  uid: { type: 'string', placeholder: 'N', help: 'only this user id' },
  pid: { type: 'string', placeholder: 'N', help: 'only this process' },
  comm: { type: 'string', placeholder: 'NAME', help: 'only processes with this command name' },
  state: {
    type: 'string',
    placeholder: 'S',
    help: 'with --offcpu: interruptible, uninterruptible, idle or other',
  },
} as const;

const BASE_OPTIONS = Object.fromEntries(
  SELECTION_FLAGS.map((f) => [
    `base-${f}`,
    {
      type: 'string',
      placeholder: SELECTION_OPTIONS[f].placeholder,
      section: 'differential (any --base-X makes one)',
      help: `the baseline's ${f === 'job' ? 'job' : f} (the rest as the target's)`,
    },
  ]),
) as Record<
  `base-${(typeof SELECTION_FLAGS)[number]}`,
  { type: 'string'; placeholder: string; section: string; help: string }
>;

export const flamegraphCommand = defineCommand({
  ...listed('flamegraph'),
  usage: [
    '[--uid N] [--comm NAME] [--pid N] [--job ID] [--hosts a,b] [--since 1h] [--until T] [--offcpu]',
    '[selection] [--offcpu] [--value V] [--format svg|folded|pprof|speedscope] [-o FILE] <where>',
    '[selection] --base-since T [--base-until T] ... [--normalize] [--format svg|folded] -o FILE',
  ],
  description: `A profile of the stored stacks (cpu_profile, or offcpu with --offcpu) of any
selection, in the format people use: an interactive SVG flame graph (zoom, search; opens
offline), Brendan Gregg's folded stacks, gzipped pprof (go tool pprof, Pyroscope, Parca) or
speedscope JSON. Any --base-X flag makes it a differential against a baseline (the same
selection with those fields replaced): red grew, blue shrank. Values and units: docs/profiles.md.`,
  options: {
    ...SELECTION_OPTIONS,
    offcpu: {
      type: 'boolean',
      default: false,
      help: 'time blocked off the CPU (offcpu) instead of CPU samples (cpu_profile)',
    },
    value: {
      type: 'string',
      placeholder: 'V',
      help: 'what to sum: samples (default), cpu_ns or weighted; with --offcpu total_ns (default) or blocks',
    },
    format: {
      type: 'string',
      default: 'svg',
      choices: [...PROFILE_FORMATS],
      section: 'output',
      help: 'the file format',
    },
    output: {
      type: 'string',
      short: 'o',
      placeholder: 'FILE',
      section: 'output',
      help: 'write here (default: standard output, except pprof)',
    },
    normalize: {
      type: 'boolean',
      default: false,
      section: 'differential (any --base-X makes one)',
      help: "scale the baseline to the target's total, so that only shares compare",
    },
    ...BASE_OPTIONS,
    ...WHERE_OPTIONS,
  },
  epilog: TARGET_EPILOG,
  run: async (values) => {
    const target: Record<string, unknown> = {
      collector: values.offcpu ? 'offcpu' : 'cpu_profile',
    };
    if (values.value !== undefined) target.value = values.value;
    for (const f of SELECTION_FLAGS) {
      const v = values[f];
      if (v !== undefined)
        target[FIELD[f]] =
          f === 'hosts'
            ? v
                .split(',')
                .map((h) => h.trim())
                .filter(Boolean)
            : v;
    }
    const base: Record<string, unknown> = { ...target };
    let differential = false;
    for (const f of SELECTION_FLAGS) {
      const v = values[`base-${f}`];
      if (v === undefined) continue;
      differential = true;
      base[FIELD[f]] =
        f === 'hosts'
          ? v
              .split(',')
              .map((h) => h.trim())
              .filter(Boolean)
          : v;
    }
    if (values.normalize && !differential)
      throw new UsageError('--normalize: only for a differential (give a --base-X flag)');
    if (differential && !(DIFF_FORMATS as readonly string[]).includes(values.format))
      throw new UsageError(
        `--format: a differential is svg or folded, got ${JSON.stringify(values.format)} (for pprof: two files and go tool pprof -diff_base)`,
      );
    if (values.format === 'pprof' && values.output === undefined && process.stdout.isTTY)
      throw new UsageError('-o: pprof is binary; give a file');
    const source = rowSourceOf((sql) => runQuery(values, sql));
    let rendered;
    try {
      rendered = differential
        ? await exportDiff(
            base as SelectionInput,
            target as SelectionInput,
            source,
            values.format as DiffFormat,
            { normalize: values.normalize },
          )
        : await exportProfile(target as SelectionInput, source, values.format);
    } catch (err) {
      // Selection fields are flags here: name the flag, not the API's field.
      if (err instanceof ValidationError) {
        const flag = Object.entries(FIELD).find(([, field]) => err.field === field)?.[0];
        throw new ValidationError(flag ? `--${flag}` : err.field, err.reason);
      }
      throw err;
    }
    if (values.output === undefined) process.stdout.write(rendered.bytes);
    else {
      writeFileSync(values.output, rendered.bytes);
      process.stderr.write(
        `wrote ${values.output} (${rendered.bytes.length} bytes, ${values.format})\n`,
      );
    }
    return 0;
  },
});
