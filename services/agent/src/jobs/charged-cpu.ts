// SPDX-License-Identifier: Apache-2.0
/**
 * CPU time of other processes that the jobs' overhead must include: on one
 * machine `fleettrace up` runs ingest and the embedded store beside the agent,
 * and the traced workloads pay for their work on every row as much as for
 * the agent's. Read from /proc/<pid>/stat (utime + stime of all threads, in
 * clock ticks of 10 ms).
 */
import { readFileSync } from 'node:fs';
import { ValidationError } from '@fleettrace/common';

/** USER_HZ: fixed at 100 by the Linux ABI on the architectures fleettrace runs on. */
const TICK_US = 10_000;

/** utime + stime of a process (all its threads) in µs, or undefined when it is gone. */
export function processCpuUs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: fields start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * TICK_US : undefined;
}

export class ChargedProcesses {
  private readonly last = new Map<number, number>();

  /** `field` names the option the pids came from, for the error when one is not running. */
  constructor(
    readonly pids: readonly number[],
    field = 'chargePids',
  ) {
    pids.forEach((pid) => {
      if (!Number.isInteger(pid) || pid < 1 || pid > 4_194_304)
        throw new ValidationError(field, `must be a process id (1-4194304), got ${pid}`);
      const us = processCpuUs(pid);
      if (us === undefined) throw new ValidationError(field, `no process ${pid} is running`);
      this.last.set(pid, us);
    });
  }

  /** Their CPU time so far in µs (a process that has gone keeps its last figure). */
  cpuUs(): number {
    let sum = 0;
    for (const pid of this.pids) {
      const us = processCpuUs(pid);
      if (us !== undefined) this.last.set(pid, us);
      sum += this.last.get(pid) ?? 0;
    }
    return sum;
  }
}
