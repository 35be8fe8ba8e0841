// SPDX-License-Identifier: Apache-2.0
/**
 * Differential profiles: the same stacks in two profiles (a baseline and a
 * target, e.g. before and after a deploy), with both values side by side.
 *
 * Not normalised unless asked: the values are what each selection measured,
 * so a stack that doubled because the target window is twice as long shows
 * as grown, as difffolded.pl does by default. `normalize: true` scales the
 * baseline to the target's total first (rounded to integers), so that only
 * changes in *share* show: a stack grows when it takes more of the profile.
 */
import { foldedName } from './folded';
import {
  canonicalProfile,
  compareText,
  totalOf,
  type SampleType,
  type StackProfile,
} from './profile';

export interface DiffStack {
  /** root first */
  frames: string[];
  base: number;
  target: number;
  /** target − base */
  delta: number;
}

export interface DiffProfile {
  sampleType: SampleType;
  stacks: DiffStack[];
  /** the baseline was scaled to the target's total */
  normalized: boolean;
  /** the totals as measured (before any scaling) */
  baseTotal: number;
  targetTotal: number;
  name?: string;
}

export type Change = 'grown' | 'shrunk' | 'unchanged';

export function changeOf(s: { base: number; target: number }): Change {
  return s.target > s.base ? 'grown' : s.target < s.base ? 'shrunk' : 'unchanged';
}

export interface DiffOptions {
  /** scale the baseline to the target's total (default false) */
  normalize?: boolean;
  name?: string;
}

export function diffProfiles(
  base: StackProfile,
  target: StackProfile,
  options: DiffOptions = {},
): DiffProfile {
  const { type, unit } = target.sampleType;
  if (base.sampleType.type !== type || base.sampleType.unit !== unit)
    throw new TypeError(
      `cannot compare ${base.sampleType.type} (${base.sampleType.unit}) with ${type} (${unit})`,
    );
  const b = canonicalProfile(base);
  const t = canonicalProfile(target);
  const baseTotal = totalOf(b);
  const targetTotal = totalOf(t);
  const normalize = options.normalize === true;
  const scale = normalize && baseTotal > 0 ? targetTotal / baseTotal : 1;
  const stacks = new Map<string, DiffStack>();
  const entry = (frames: string[]): DiffStack => {
    const key = frames.join('\u0000');
    let s = stacks.get(key);
    if (!s) {
      s = { frames, base: 0, target: 0, delta: 0 };
      stacks.set(key, s);
    }
    return s;
  };
  for (const s of b.stacks) entry(s.frames).base = Math.round(s.value * scale);
  for (const s of t.stacks) entry(s.frames).target = s.value;
  for (const s of stacks.values()) s.delta = s.target - s.base;
  return {
    sampleType: target.sampleType,
    stacks: [...stacks.entries()].sort(([x], [y]) => compareText(x, y)).map(([, s]) => s),
    normalized: normalize,
    baseTotal,
    targetTotal,
    name: options.name ?? target.name,
  };
}

/**
 * The difffolded.pl form: `root;caller;leaf base target` per stack, folded
 * names (folded.ts), sorted byte-wise; flamegraph.pl draws it as a
 * differential flame graph.
 */
export function toDiffFolded(diff: DiffProfile): string {
  const merged = new Map<string, [number, number]>();
  for (const s of diff.stacks) {
    const key = s.frames.map(foldedName).join(';');
    const m = merged.get(key) ?? [0, 0];
    m[0] += s.base;
    m[1] += s.target;
    merged.set(key, m);
  }
  return [...merged.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([stack, [b, t]]) => `${stack} ${b} ${t}\n`)
    .join('');
}
