// SPDX-License-Identifier: Apache-2.0
/**
 * Brendan Gregg's collapsed ("folded") stacks, the input of flamegraph.pl,
 * inferno and speedscope: one line per stack, `root;caller;leaf value`,
 * frames by function name (no offsets, so call sites of one function merge),
 * sorted byte-wise by stack, each stack once.
 */
import { frameName } from './frames';
import { canonicalProfile, compareText, type StackProfile } from './profile';

/**
 * A frame's name as one folded field: `;` separates frames and a newline
 * ends the line, so each becomes something that cannot be mistaken for them
 * (`:` and a space). The value is the text after the last space, so spaces
 * inside a name are safe (flamegraph.pl reads it the same way).
 */
export function foldedName(text: string): string {
  return frameName(text)
    .replace(/;/g, ':')
    .replace(/[\r\n]+/g, ' ');
}

/** Stacks keyed by their folded text, merged where only offsets differed, in folded order. */
export function foldedStacks(profile: StackProfile): Array<[folded: string, value: number]> {
  const merged = new Map<string, number>();
  for (const s of canonicalProfile(profile).stacks) {
    const key = s.frames.map(foldedName).join(';');
    merged.set(key, (merged.get(key) ?? 0) + s.value);
  }
  return [...merged.entries()].sort(([a], [b]) => compareText(a, b));
}

export function toFolded(profile: StackProfile): string {
  return foldedStacks(profile)
    .map(([stack, value]) => `${stack} ${value}\n`)
    .join('');
}
