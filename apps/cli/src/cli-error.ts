// SPDX-License-Identifier: Apache-2.0
import { escapeJsonForTerminal } from '@fleettrace/common';

/** A usage error: printed without a stack, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * JSON.stringify that writes bigints as decimal strings, and DEL, C1, the line
 * separators and bidi characters as \u escapes (JSON.stringify leaves them raw;
 * a terminal acts on them). The value parsed back is the same.
 */
export function toJson(value: unknown, indent = 2): string {
  return escapeJsonForTerminal(
    JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), indent),
  );
}
