// SPDX-License-Identifier: Apache-2.0
/**
 * The id under which a stack leaves the host. Stack-map ids are per BPF map and reused once a
 * slot is freed, so they mean nothing off the host; a hash of the symbolized text means the same
 * stack on every host and in every run, as long as the same code is at the same file offsets.
 */
import { createHash } from 'node:crypto';
import type { Frame } from './frame';

/** Separates kernel from user frames in the hashed text; no frame's text is ever "--". */
const KERNEL_USER_SEPARATOR = '--';

/**
 * The first 16 hex characters (64 bits) of the SHA-256 of the frames' text joined with "\n":
 * kernel frames, then "--", then user frames, each list innermost frame first. The separator
 * keeps kernel [a] with user [b, c] apart from kernel [a, b] with user [c].
 */
export function stackHash(kernelFrames: Frame[], userFrames: Frame[]): string {
  const lines = [
    ...kernelFrames.map((frame) => frame.text),
    KERNEL_USER_SEPARATOR,
    ...userFrames.map((frame) => frame.text),
  ];
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
}
