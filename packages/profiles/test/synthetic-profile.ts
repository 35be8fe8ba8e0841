// SPDX-License-Identifier: Apache-2.0
/** A small profile with what real ones have: call sites of one function, kernel frames, an unresolved frame, a `;` in a name. */
import type { StackProfile } from '../src/profile';

export const SYNTHETIC: StackProfile = {
  sampleType: { type: 'samples', unit: 'count' },
  name: 'synthetic',
  stacks: [
    { frames: ['main+0x10 (app)', 'work+0x20 (app)', 'compute+0x5 (app)'], value: 60 },
    // Another call site of work and compute: one folded stack with the first.
    { frames: ['main+0x10 (app)', 'work+0x24 (app)', 'compute+0x9 (app)'], value: 10 },
    {
      frames: [
        'main+0x10 (app)',
        'read+0x3 (libc.so.6)',
        'entry_SYSCALL_64+0x0 (kernel)',
        'vfs_read+0x5 (kernel)',
      ],
      value: 25,
    },
    { frames: ['libc.so.6+0x2724a', 'main+0x10 (app)', 'idle;odd+0x1 (app)'], value: 5 },
    // The same stack twice and an empty one: merged, dropped.
    { frames: ['main+0x10 (app)', 'work+0x20 (app)', 'compute+0x5 (app)'], value: 0 },
  ],
};

/** The folded form of SYNTHETIC, by hand. */
export const SYNTHETIC_FOLDED =
  'libc.so.6+0x2724a;main;idle:odd 5\n' +
  'main;read;entry_SYSCALL_64;vfs_read 25\n' +
  'main;work;compute 70\n';

/** Folded stack -> value, from folded text. */
export function foldedTotals(folded: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of folded.split('\n').filter(Boolean)) {
    const cut = line.lastIndexOf(' ');
    const stack = line.slice(0, cut);
    totals.set(stack, (totals.get(stack) ?? 0) + Number(line.slice(cut + 1)));
  }
  return totals;
}
