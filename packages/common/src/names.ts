// SPDX-License-Identifier: Apache-2.0
import { ERRNO_NAMES } from './errno-table.gen';
import { SIGNAL_NAMES } from './signal-table.gen';
import { SYSCALL_NAMES_X86_64 } from './syscall-table.gen';

/** Name of an x86_64 syscall number; unknown numbers read "syscall_<n>". */
export function syscallName(nr: number): string {
  return SYSCALL_NAMES_X86_64[nr] ?? `syscall_${nr}`;
}

const SYSCALL_NUMBERS_X86_64: ReadonlyMap<string, number> = new Map(
  Object.entries(SYSCALL_NAMES_X86_64).map(([nr, name]) => [name, Number(nr)]),
);

/** x86_64 number of a syscall name; throws for a name the table does not know. */
export function syscallNumber(name: string): number {
  const nr = SYSCALL_NUMBERS_X86_64.get(name);
  if (nr === undefined) throw new Error(`unknown x86_64 syscall ${name}`);
  return nr;
}

/** Name of a positive errno value; unknown values read "E<n>". */
export function errnoName(err: number): string {
  return ERRNO_NAMES[err]?.[0] ?? `E${err}`;
}

/** Description of a positive errno value ("No such file or directory"), or "" when unknown. */
export function errnoDescription(err: number): string {
  return ERRNO_NAMES[err]?.[1] ?? '';
}

/** Name of a signal number: SIGKILL; real-time signals read SIGRTMIN+n; unknown read SIG<n>. */
export function signalName(sig: number): string {
  if (SIGNAL_NAMES[sig]) return SIGNAL_NAMES[sig];
  if (sig >= 32 && sig <= 64) return sig === 32 ? 'SIGRTMIN' : `SIGRTMIN+${sig - 32}`;
  return `SIG${sig}`;
}
