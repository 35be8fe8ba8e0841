// SPDX-License-Identifier: Apache-2.0
/**
 * The per-hook fixed cost: what a program run costs beyond the run time the
 * kernel's BPF statistics measure (the tracepoint's entry into the program,
 * and for syscall tracepoints the slow syscall path every traced call takes).
 * Calibrated once at start by timing getppid() calls (process.ppid reads it
 * fresh each time) with and without an empty raw tracepoint program attached.
 */
import { BpfObject, RunTimeStats } from '@fleettrace/native';

function timePpid(n: number): number {
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += process.ppid;
  if (sink === -1) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - start) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

/** Nanoseconds per program run not covered by run-time statistics; 0 when it cannot be measured. */
export async function calibrateHookCost(
  featuresObjectPath: string,
  calls = 100_000,
): Promise<number> {
  const obj = BpfObject.fromFile(featuresObjectPath, 'ft_calibrate');
  const stats = new RunTimeStats();
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, p.name === 'ft_probe_rawtp');
    await obj.load();
    timePpid(calls / 10); // warm up
    const bare: number[] = [];
    const hooked: number[] = [];
    let link = -1;
    for (let round = 0; round < 3; round++) {
      bare.push(timePpid(calls));
      link = obj.attach('ft_probe_rawtp');
      hooked.push(timePpid(calls));
      obj.detach(link);
    }
    const runs = obj.programStats('ft_probe_rawtp');
    const perRun = runs.runCount ? runs.runTimeNs / runs.runCount : 0;
    return Math.max(0, median(hooked) - median(bare) - perRun);
  } catch {
    return 0;
  } finally {
    stats.close();
    obj.closeNow();
  }
}
