// SPDX-License-Identifier: Apache-2.0
/**
 * Named crash points for fault tests, off unless FLEETTRACE_FAILPOINTS names
 * them: "after-insert-before-commit,during-insert@3" kills the process with
 * SIGKILL (no cleanup, like a power cut or the OOM killer) the first, or the
 * Nth, time execution reaches the point. Tests only: nothing in a deployment
 * sets the variable.
 *
 * Points: "before-insert" (a flush took its blocks and stored none of them),
 * "during-insert" (a flush stored some of its tables but not all),
 * "after-insert-before-commit" (a flush stored everything, the bus offsets
 * are not committed).
 *
 * FLEETTRACE_TEST_BROKEN=commit-first makes ingest deliberately wrong: each
 * flush commits its bus offsets before inserting. The fault suite runs with
 * it to prove its checks catch the loss that follows a crash; like the
 * failpoints it is read only from the environment, never from a config file.
 */
export const FAILPOINT_NAMES = [
  'before-insert',
  'during-insert',
  'after-insert-before-commit',
] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export const BROKEN_VARIANTS = ['commit-first'] as const;
export type BrokenVariant = (typeof BROKEN_VARIANTS)[number];

export class Failpoints {
  private readonly armed = new Map<string, number>();
  private readonly hits = new Map<string, number>();
  /** True only under FLEETTRACE_TEST_BROKEN=commit-first: commit offsets before inserting. */
  readonly commitFirst: boolean;

  constructor(
    spec = process.env.FLEETTRACE_FAILPOINTS ?? '',
    broken = process.env.FLEETTRACE_TEST_BROKEN ?? '',
  ) {
    if (broken !== '' && !(BROKEN_VARIANTS as readonly string[]).includes(broken))
      throw new Error(
        `FLEETTRACE_TEST_BROKEN: unknown variant ${JSON.stringify(broken)} (known: ${BROKEN_VARIANTS.join(', ')})`,
      );
    this.commitFirst = broken === 'commit-first';
    if (this.commitFirst)
      process.stderr.write(
        'ingest: FLEETTRACE_TEST_BROKEN=commit-first: offsets are committed BEFORE inserting (test only)\n',
      );
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
    return this.armed.size > 0 || this.commitFirst;
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
