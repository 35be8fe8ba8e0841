// SPDX-License-Identifier: Apache-2.0
/**
 * Named crash points for fault tests, off unless FLEETTRACE_FAILPOINTS names
 * them: "after-insert-before-commit,during-insert@3" kills the process with
 * SIGKILL (no cleanup, like a power cut or the OOM killer) the first, or the
 * Nth, time execution reaches the point. Tests only: nothing in a deployment
 * sets the variable.
 *
 * Points: "during-insert" (a flush stored some of its tables but not all),
 * "after-insert-before-commit" (a flush stored everything, the bus offsets
 * are not committed).
 */
export const FAILPOINT_NAMES = ['during-insert', 'after-insert-before-commit'] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export class Failpoints {
  private readonly armed = new Map<string, number>();
  private readonly hits = new Map<string, number>();

  constructor(spec = process.env.FLEETTRACE_FAILPOINTS ?? '') {
    for (const part of spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [name = '', nth = '1'] = part.split('@');
      if (!(FAILPOINT_NAMES as readonly string[]).includes(name))
        throw new Error(
          `FLEETTRACE_FAILPOINTS: unknown failpoint ${JSON.stringify(name)} (known: ${FAILPOINT_NAMES.join(', ')})`,
        );
      this.armed.set(name, Math.max(1, Number(nth) || 1));
    }
  }

  get active(): boolean {
    return this.armed.size > 0;
  }

  /** Counts a pass through `name`; kills the process when it is the armed pass. */
  reach(name: FailpointName): void {
    const at = this.armed.get(name);
    if (at === undefined) return;
    const n = (this.hits.get(name) ?? 0) + 1;
    this.hits.set(name, n);
    if (n === at) {
      process.stderr.write(`ingest: failpoint ${name} reached (pass ${n}): killing the process\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  }
}
