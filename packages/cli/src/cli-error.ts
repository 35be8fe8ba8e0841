// SPDX-License-Identifier: Apache-2.0
/** A usage error: printed without a stack, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** JSON.stringify that writes bigints as decimal strings. */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), indent);
}
