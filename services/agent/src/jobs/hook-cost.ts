// SPDX-License-Identifier: Apache-2.0
/**
 * What a program run costs the traced workload beyond what BPF run-time
 * statistics report, calibrated once at start with empty programs on
 * sys_enter and sys_exit (bpf/testing/hook_floor.bpf.c):
 *  - perRunNs: the hook's fixed cost per run, which statistics do not see
 *    (the tracepoint's entry into the program, and for syscall tracepoints the
 *    slow syscall path every call takes while one is attached): half of what
 *    the pair adds to a getppid() (process.ppid reads it fresh each time);
 *  - statsSelfNs: what statistics report for an empty program, i.e. their own
 *    clock reads, to subtract from every measured run.
 */
import { BpfObject, RunTimeStats } from '@fleettrace/native';

export interface HookCost {
  perRunNs: number;
  statsSelfNs: number;
}

function timePpid(n: number): number {
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += process.ppid;
  if (sink === -1) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - start) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
const FLOOR_PROGRAMS = ['ft_floor_enter', 'ft_floor_exit'];

/** Calibrates on this host; zeros when it cannot be measured. */
export async function calibrateHookCost(
  floorObjectPath: string,
  calls = 100_000,
): Promise<HookCost> {
  const obj = BpfObject.fromFile(floorObjectPath, 'ft_calibrate');
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, FLOOR_PROGRAMS.includes(p.name));
    await obj.load();
    timePpid(calls / 10); // warm up
    const bare: number[] = [];
    const hooked: number[] = [];
    for (let round = 0; round < 5; round++) {
      bare.push(timePpid(calls));
      const links = obj.attachAll();
      hooked.push(timePpid(calls));
      for (const l of links) obj.detach(l);
    }
    const perRunNs = Math.max(0, (median(hooked) - median(bare)) / 2);
    const stats = new RunTimeStats();
    let statsSelfNs = 0;
    try {
      const links = obj.attachAll();
      timePpid(calls / 10);
      for (const l of links) obj.detach(l);
      const s = obj.programStats('ft_floor_enter');
      statsSelfNs = s.runCount ? s.runTimeNs / s.runCount : 0;
    } finally {
      stats.close();
    }
    return { perRunNs, statsSelfNs };
  } catch {
    return { perRunNs: 0, statsSelfNs: 0 };
  } finally {
    obj.closeNow();
  }
}
