// SPDX-License-Identifier: Apache-2.0
/**
 * syscall_trace: one event as one line in the style of `strace -f -T`, for
 * people who read strace output every day:
 *
 *   [pid  1234] openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 3 <0.000012>
 *
 * Buffers print as "<N bytes>": the product captures no payload.
 */
import { syscallName } from '@fleettrace/common';
import { decodeArgs, formatReturn, pathArgumentIndex, type SyscallEvent } from './syscall-args';

export interface FormatCallOptions {
  /** Prefix "[pid  N] " as strace -f does; default true. */
  showPid?: boolean;
}

/**
 * The strace line for `ev`, without a trailing newline. The "[pid N]" prefix
 * carries the thread id, as strace -f does, so the threads of one process stay
 * apart. Unknown syscall numbers read "syscall_<n>" (see syscallName). Calls
 * that never return (exit_group) have no duration, like strace.
 */
export function formatCall(ev: SyscallEvent, opts: FormatCallOptions = {}): string {
  const pathIndex = ev.path === undefined ? -1 : pathArgumentIndex(ev.nr);
  const args = decodeArgs(ev).map((arg, i) =>
    i === pathIndex ? quotePath(ev.path ?? '', ev.path_truncated === true) : String(arg.value),
  );
  const ret = formatReturn(ev);
  const prefix = (opts.showPid ?? true) ? `[pid ${String(ev.tid).padStart(5)}] ` : '';
  const duration = ret === '?' ? '' : ` <${formatSeconds(ev.duration_ns)}>`;
  return `${prefix}${syscallName(ev.nr)}(${args.join(', ')}) = ${ret}${duration}`;
}

/**
 * A path as a double-quoted string: JSON escaping (quotes, backslashes, C0
 * controls), plus DEL and the C1 controls, which a terminal would otherwise
 * act on. "..." after the closing quote marks a path cut by the kernel side.
 */
export function quotePath(path: string, truncated: boolean): string {
  const quoted = JSON.stringify(path).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return truncated ? `${quoted}...` : quoted;
}

/** 12000 ns -> "0.000012": seconds with microseconds, rounded as integers (no float drift). */
function formatSeconds(ns: number): string {
  const us = Math.round(ns / 1000);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}
