// SPDX-License-Identifier: Apache-2.0
import { ERRNO_NAMES } from './errno-table.gen';
import { SYSCALL_NAMES_X86_64 } from './syscall-table.gen';

/** Name of an x86_64 syscall number; unknown numbers read "syscall_<n>". */
export function syscallName(nr: number): string {
  return SYSCALL_NAMES_X86_64[nr] ?? `syscall_${nr}`;
}

/** Name of a positive errno value; unknown values read "E<n>". */
export function errnoName(err: number): string {
  return ERRNO_NAMES[err]?.[0] ?? `E${err}`;
}
