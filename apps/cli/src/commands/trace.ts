// SPDX-License-Identifier: Apache-2.0
import {
  parseDuration,
  parseInteger,
  renderTable,
  escapeForTerminal,
  formatNs,
  ValidationError,
} from '@fleettrace/common';
import { writeFileSync } from 'node:fs';
import {
  collectors,
  encodePprof,
  requireAgentCapabilities,
  requireCollector,
  runLocal,
} from '@fleettrace/collectors';
import { toJson } from '../cli-error';
import { defineCommand } from '../command';
import { FILTER_OPTIONS, filtersFromFlags } from '../job-flags';
import { listed } from '../registry';

export const traceCommand = defineCommand({
  ...listed('trace'),
  args: ['<collector>'],
  description: 'Runs one collector on this host, with no controller, and prints what it saw.',
  options: {
    duration: {
      type: 'string',
      default: '10s',
      placeholder: 'D',
      help: 'how long to trace (e.g. 500ms, 30s, 2m)',
    },
    interval: {
      type: 'string',
      default: '1s',
      placeholder: 'D',
      help: 'how often the kernel aggregates are drained',
    },
    ...FILTER_OPTIONS,
    param: {
      type: 'string',
      multiple: true,
      placeholder: 'K=V',
      help: 'collector parameter (repeatable), e.g. --param max_entries=4096',
    },
    'per-process': {
      type: 'boolean',
      default: false,
      help: 'one line per process and kind instead of per kind',
    },
    sort: {
      type: 'string',
      default: 'calls',
      choices: ['calls', 'time', 'errors'],
      help: 'syscalls: what to sort by',
    },
    top: { type: 'string', default: '25', placeholder: 'N', help: 'lines to print' },
    folded: {
      type: 'boolean',
      default: false,
      help: 'print folded stacks (flamegraph.pl, speedscope) for collectors with stacks (cpu_profile, offcpu)',
    },
    pprof: {
      type: 'string',
      placeholder: 'FILE',
      help: 'also write a gzipped pprof profile (go tool pprof, Parca, Pyroscope) for collectors with stacks',
    },
  },
  data: true,
  jsonHelp: 'print one JSON document instead of a table',
  epilog: () => `collectors: ${[...collectors().keys()].join(', ')}

Lost events or increments (a full kernel map, a full ring buffer) are always
counted and printed; 0 means nothing was lost.`,
  async run(values, [collector]) {
    const def = requireCollector(collector!, 'collector');
    if (values.folded && !def.folded)
      throw new ValidationError('--folded', `collector ${def.name} has no stacks`);
    if (values.folded && values.json)
      throw new ValidationError('--folded', 'choose one of --folded and --json');
    const durationMs = parseDuration('--duration', values.duration, {
      minMs: 1,
      maxMs: 7 * 24 * 3_600_000,
    });
    const intervalMs = parseDuration('--interval', values.interval, {
      minMs: 10,
      maxMs: 3_600_000,
    });
    const top = parseInteger('--top', values.top, 1, 1_000_000);
    const filters = filtersFromFlags(values);
    const params: Record<string, unknown> = {};
    for (const p of values.param ?? []) {
      const eq = p.indexOf('=');
      if (eq <= 0)
        throw new ValidationError('--param', `must be KEY=VALUE, got ${JSON.stringify(p)}`);
      params[p.slice(0, eq)] = p.slice(eq + 1);
    }

    // Before anything loads: a missing capability is named, not reported as a kernel without BPF.
    requireAgentCapabilities();
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const progress = process.stderr.isTTY && !values.json && !values.folded;
    let rowsSeen = 0;
    let lostSeen = 0;
    try {
      const result = await runLocal({
        collector: def.name,
        params,
        filters,
        durationMs,
        intervalMs,
        signal: abort.signal,
        onInterval(r, elapsed) {
          rowsSeen += r.rows.length;
          lostSeen += r.lost;
          if (progress) {
            process.stderr.write(
              `\r${def.name}: ${(elapsed / 1000).toFixed(1)}s / ${(durationMs / 1000).toFixed(1)}s, ${rowsSeen} rows, lost ${lostSeen}   `,
            );
          }
        },
      });
      if (progress) process.stderr.write('\r\x1b[K');
      const footer = {
        lost: result.lost,
        lost_detail: result.lostDetail,
        coarsened: result.coarsened,
        intervals: result.intervals,
        elapsed_ms: result.elapsedMs,
        bpf_run_time_ns: result.bpfRunTimeNs,
        bpf_run_count: result.bpfRunCount,
        notes: result.notes,
      };
      if (values.json) {
        process.stdout.write(
          toJson({ collector: def.name, filters, params, ...footer, rows: result.rows }) + '\n',
        );
        return 0;
      }
      if (values.pprof !== undefined && def.pprof) {
        const profile = def.pprof(result.rows, { durationNs: result.elapsedMs * 1e6 });
        writeFileSync(values.pprof, encodePprof(profile));
        process.stderr.write(
          `wrote ${values.pprof} (${profile.samples.length} stacks): go tool pprof -top ${values.pprof}\n`,
        );
      }
      if (values.folded && def.folded) {
        const weights = new Map<string, number>();
        for (const line of def.folded(result.rows)) {
          const at = line.lastIndexOf(' ');
          const stack = line.slice(0, at);
          weights.set(stack, (weights.get(stack) ?? 0) + Number(line.slice(at + 1)));
        }
        // Frames hold comm and symbol names a traced process chose.
        for (const [stack, weight] of weights)
          process.stdout.write(`${escapeForTerminal(stack)} ${weight}\n`);
        process.stderr.write(`lost: ${result.lost}\n`);
        return 0;
      }
      if (!def.summarize) {
        process.stdout.write(toJson(result.rows) + '\n');
      } else {
        const table = def.summarize(result.rows, {
          perProcess: values['per-process'],
          top,
          sort: values.sort,
        });
        process.stdout.write(renderTable(table.headers, table.rows) + '\n');
        if (table.omitted > 0)
          process.stdout.write(`(${table.omitted} more lines; --top to show them)\n`);
        for (const note of [...(table.notes ?? []), ...result.notes])
          process.stdout.write(`note: ${note}\n`);
      }
      const perRun = result.bpfRunCount ? result.bpfRunTimeNs / result.bpfRunCount : 0;
      const causes = Object.entries(result.lostDetail)
        .map(([cause, n]) => `${cause}: ${n}`)
        .join(', ');
      process.stdout.write(
        `\nlost: ${result.lost}${causes ? ` (${causes})` : ''}` +
          (result.coarsened
            ? ` (and ${result.coarsened} kept per user and command in overflow rows, pid 0: the per-process map was full)`
            : '') +
          `   traced ${(result.elapsedMs / 1000).toFixed(1)}s in ${result.intervals} intervals   ` +
          `kernel-side cost: ${formatNs(result.bpfRunTimeNs)} over ${result.bpfRunCount} program runs (${formatNs(perRun)} each), statistics sampled 100 ms a second\n`,
      );
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
});
