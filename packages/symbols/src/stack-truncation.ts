// SPDX-License-Identifier: Apache-2.0
/**
 * Whether frame-pointer unwinding reached the bottom of a user stack. bpf_get_stack() follows
 * saved frame pointers and stops at the first one it cannot follow (code built without frame
 * pointers, a fault) or at the depth it was given; either way the outer frames are missing.
 */
import type { Frame } from './frame';

/**
 * Functions where a thread's stack legitimately begins: the main thread in _start (glibc
 * sysdeps/x86_64/start.S), __libc_start_main and, since glibc 2.34, __libc_start_call_main,
 * which calls main; other threads in start_thread, called from clone or clone3
 * (sysdeps/unix/sysv/linux/x86_64/clone.S, clone3.S) and their __ aliases. `main` is not
 * among them: its caller is always one of these when the chain is intact.
 */
const STACK_BOTTOMS = new Set([
  '_start',
  '__libc_start_main',
  '__libc_start_call_main',
  'start_thread',
  'clone',
  'clone3',
  '__clone',
  '__clone3',
]);

const LIBC = /^libc[.-]/;

/**
 * `frames` are innermost first, as bpf_get_stack() returns them. A stack is truncated when it
 * has `maxDepth` frames (the unwinder may have had more to give) or when its outermost frame
 * is not where a stack begins. An empty user stack (a kernel thread, or a sample taken in the
 * kernel on behalf of no process) is not truncated.
 *
 * Distribution libcs (Debian's among them) ship without .symtab, and __libc_start_call_main
 * and start_thread are not in .dynsym: the bottom of an intact stack then reads
 * `libc.so.6+0x...`. Such a stack is complete when the chain came into libc from another
 * module, the shape of main's (or a thread function's) return into libc's start code: the
 * unwinder cannot go further because libc keeps no frame pointers, and nothing is missing.
 */
export function isTruncatedUserStack(frames: Frame[], maxDepth: number): boolean {
  if (frames.length === 0) return false;
  if (frames.length >= maxDepth) return true;
  const outermost = frames[frames.length - 1] as Frame;
  if (outermost.symbol !== undefined && STACK_BOTTOMS.has(outermost.symbol)) return false;
  const caller = frames[frames.length - 2];
  if (caller && LIBC.test(outermost.module) && !LIBC.test(caller.module)) {
    return !(
      outermost.symbol === undefined ||
      outermost.symbol === '__libc_start_main' ||
      caller.symbol === 'main'
    );
  }
  return true;
}
