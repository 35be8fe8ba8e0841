// SPDX-License-Identifier: Apache-2.0
/**
 * The profile model every output format is written from: one sample type
 * (what the values count, in which unit) and stacks as root-first frame
 * arrays with integer values. Frames are fleettrace frame strings
 * (frames.ts); each format decides how much of them it shows.
 */

export interface SampleType {
  /** what is counted: `samples`, `cpu`, `weighted_samples`, `offcpu`, `blocks` */
  type: string;
  /** its unit: `count`, `nanoseconds`, `millisamples` */
  unit: string;
}

export interface Stack {
  /** root first (the outermost caller), leaf last */
  frames: string[];
  /** a non-negative integer */
  value: number;
}

export interface StackProfile {
  sampleType: SampleType;
  stacks: Stack[];
  /** shown as the title of a flame graph and the name of a speedscope profile */
  name?: string;
}

/** Byte-order comparison: the same order whatever the locale, as folded files are sorted. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const SEPARATOR = '\u0000';

/**
 * The same profile with identical stacks merged, zero values dropped and the
 * stacks in a fixed order (by their frames, compared frame by frame). Throws
 * on a value that is not a non-negative safe integer: every format writes
 * integers, and an approximate total would be a silent lie.
 */
export function canonicalProfile(profile: StackProfile): StackProfile {
  const merged = new Map<string, Stack>();
  for (const s of profile.stacks) {
    if (!Number.isSafeInteger(s.value) || s.value < 0)
      throw new RangeError(
        `stack ${s.frames.join(';')}: value ${s.value} is not a non-negative integer`,
      );
    if (s.value === 0) continue;
    const key = s.frames.join(SEPARATOR);
    const m = merged.get(key);
    if (m) m.value += s.value;
    else merged.set(key, { frames: [...s.frames], value: s.value });
  }
  const stacks = [...merged.entries()].sort(([a], [b]) => compareText(a, b)).map(([, s]) => s);
  return { ...profile, stacks };
}

export function totalOf(profile: StackProfile): number {
  return profile.stacks.reduce((n, s) => n + s.value, 0);
}
