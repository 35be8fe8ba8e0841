// SPDX-License-Identifier: Apache-2.0
/**
 * Which tables a collector's rows go to, and the columns derived on the way
 * (DESIGN.md "Storage", docs/schema.md). Rows arrive as the agent's JSON
 * lines (the collector's row types, 64-bit integers as decimal strings).
 *
 * Sensitive values (exec arguments and file names, syscall_trace arguments,
 * paths and strace lines) are stored in fleettrace_sensitive only: the main
 * tables have no columns for them, and the store skips fields without a
 * column; the main tables keep a redacted form (the exe's base name and the
 * argument count, whether a path was there).
 *
 * High-volume rows that need nothing derived (proc's exit, fork, oom_kill)
 * pass through as text; the rest are parsed, completed and serialized again.
 * A line is recognised by the exact text JSON.stringify writes for a key and
 * value (`"event":"exec"`): inside a JSON string a quote is always escaped,
 * so a value cannot imitate it.
 */
import { errnoName, syscallName } from '@fleettrace/common';
import { UndecodableBatchError } from '@fleettrace/bus';
import type { BatchContext, TableBuffer } from './table-buffer';

type Row = Record<string, unknown>;

export interface TableSet {
  /** the buffer of a table that exists, or undefined */
  get(table: string): TableBuffer | undefined;
}

/** Stack ids stored recently: a stack seen in every interval is written once, not every time. */
class RecentStacks {
  private seen = new Set<string>();
  has(id: string): boolean {
    return this.seen.has(id);
  }
  add(id: string): void {
    if (this.seen.size >= 200_000) this.seen = new Set();
    this.seen.add(id);
  }
  /** after a failed flush the stacks it carried were not stored */
  forget(ids: string[]): void {
    for (const id of ids) this.seen.delete(id);
  }
}

function parse(line: string): Row {
  try {
    return JSON.parse(line) as Row;
  } catch (err) {
    throw new UndecodableBatchError(`a row is not JSON: ${(err as Error).message}`);
  }
}

const STACK_FIELDS = ['kernel_frames', 'user_frames', 'kernel_ips', 'user_ips'];

export class RowRouter {
  private readonly stacks = new RecentStacks();
  /** stack ids added since the last `flushed()`: forgotten if that flush fails */
  private pendingStacks: string[] = [];

  constructor(private readonly tables: TableSet) {}

  /** Routes one batch's rows; throws UndecodableBatchError when the collector has no table. */
  route(collector: string, batch: BatchContext, lines: string[]): number {
    switch (collector) {
      case 'proc':
        return this.proc(batch, lines);
      case 'syscalls':
        return this.derived('syscalls', batch, lines, (r) => {
          const errnos = (r.errnos ?? {}) as Record<string, number>;
          r.errno_names = Object.keys(errnos);
          r.errno_counts = Object.values(errnos);
          delete r.errnos;
        });
      case 'cpu_profile':
      case 'offcpu':
        return this.withStacks(collector, batch, lines);
      case 'syscall_trace':
        return this.syscallTrace(batch, lines);
      default:
        if (!/^[a-z][a-z0-9_]*$/.test(collector))
          throw new UndecodableBatchError(
            `collector name ${JSON.stringify(collector)} is not a table name`,
          );
        this.main(collector).add(batch, lines);
        return lines.length;
    }
  }

  /** Whether the last flush stored everything routed before it. */
  flushed(ok: boolean): void {
    if (!ok) this.stacks.forget(this.pendingStacks);
    this.pendingStacks = [];
  }

  private main(table: string): TableBuffer {
    const buffer = this.tables.get(`fleettrace.${table}`);
    if (!buffer)
      throw new UndecodableBatchError(`no table fleettrace.${table} for collector ${table}`);
    return buffer;
  }

  private sensitive(table: string): TableBuffer {
    return this.tables.get(`fleettrace_sensitive.${table}`)!;
  }

  private derived(
    table: string,
    batch: BatchContext,
    lines: string[],
    derive: (r: Row) => void,
  ): number {
    const out = lines.map((l) => {
      const r = parse(l);
      derive(r);
      return JSON.stringify(r);
    });
    this.main(table).add(batch, out);
    return lines.length;
  }

  private proc(batch: BatchContext, lines: string[]): number {
    const main: string[] = [];
    const execs: string[] = [];
    const execIdx: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.includes('"event":"exec"')) {
        const r = parse(line);
        const filename = typeof r.filename === 'string' ? r.filename : '';
        r.exe = filename.slice(filename.lastIndexOf('/') + 1);
        r.argc = Array.isArray(r.argv) ? r.argv.length : 0;
        // The main table would skip them; not sending them spares the server the parsing.
        delete r.argv;
        delete r.filename;
        main.push(JSON.stringify(r));
        execs.push(line);
        execIdx.push(i);
      } else if (line.includes('"event":"signal"')) {
        // the collector's `result` is signal_result in the table
        main.push(line.replace('"result":', '"signal_result":'));
      } else {
        main.push(line);
      }
    }
    this.main('proc').add(batch, main);
    this.sensitive('proc_exec').add(batch, execs, execIdx);
    return lines.length;
  }

  private withStacks(table: string, batch: BatchContext, lines: string[]): number {
    const stacks = this.tables.get('fleettrace.stacks');
    const fresh: Row[] = [];
    const out = lines.map((l) => {
      const r = parse(l);
      const id = r.stack_id;
      if (stacks && typeof id === 'string' && id !== '' && !this.stacks.has(id)) {
        this.stacks.add(id);
        this.pendingStacks.push(id);
        fresh.push({
          stack_id: id,
          time: Math.floor(Date.now() / 1000),
          kernel_frames: r.kernel_frames ?? [],
          user_frames: r.user_frames ?? [],
          user_depth: r.user_depth ?? 0,
          truncated: r.truncated ?? false,
          jit_frames: r.jit_frames ?? 0,
        });
      }
      for (const f of STACK_FIELDS) delete r[f];
      return JSON.stringify(r);
    });
    this.main(table).add(batch, out);
    stacks?.addRows(batch, fresh);
    return lines.length;
  }

  private syscallTrace(batch: BatchContext, lines: string[]): number {
    const main: string[] = [];
    const sensitive: string[] = [];
    for (const l of lines) {
      const r = parse(l);
      r.syscall = syscallName(Number(r.nr));
      const ret = Number(r.ret);
      r.errno = ret < 0 && ret >= -4095 ? errnoName(-ret) : '';
      r.has_path = r.path !== undefined && r.path !== null;
      sensitive.push(JSON.stringify(r));
      delete r.args;
      delete r.path;
      delete r.line;
      main.push(JSON.stringify(r));
    }
    this.main('syscall_trace').add(batch, main);
    this.sensitive('syscall_trace_args').add(batch, sensitive);
    return lines.length;
  }
}
