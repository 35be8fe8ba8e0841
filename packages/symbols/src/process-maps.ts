// SPDX-License-Identifier: Apache-2.0
/**
 * /proc/PID/maps, as printed by show_map_vma() in the kernel's fs/proc/task_mmu.c:
 *
 *   start-end perms offset major:minor inode   path
 *   7f2c1a428000-7f2c1a5a1000 r-xp 00028000 08:01 1837  /usr/lib/x86_64-linux-gnu/libc.so.6
 *
 * The path is absent for anonymous memory, a pseudo name such as [vdso] or [heap], or a file
 * path that d_path() suffixes with " (deleted)" once the file was unlinked.
 */
import { readFileSync } from 'node:fs';

/** One line of /proc/PID/maps. */
export interface Mapping {
  start: bigint;
  /** exclusive */
  end: bigint;
  /** offset in the file of the byte mapped at `start` */
  fileOffset: bigint;
  /**
   * the file's path without the " (deleted)" suffix, a pseudo name ("[vdso]", "[heap]",
   * "[stack]", "[anon:name]"), or "" for anonymous memory
   */
  path: string;
  /** 0 when no file backs the mapping */
  inode: number;
  /** "major:minor" in hex, as printed */
  device: string;
  executable: boolean;
  /** the file was unlinked after it was mapped (the kernel printed " (deleted)") */
  deleted: boolean;
}

/** /proc/PID/maps could not be opened because the process no longer exists. */
export class ProcessGoneError extends Error {
  readonly code = 'ESRCH';

  constructor(
    readonly pid: number,
    options?: { cause?: unknown },
  ) {
    super(`process ${pid} is gone`, options);
    this.name = 'ProcessGoneError';
  }
}

const DELETED_SUFFIX = ' (deleted)';
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+) *(.*)$/;

/**
 * Reads /proc/PID/maps (under `procRoot`, for tests). Throws ProcessGoneError when the
 * process is gone, the fs error for anything else (EACCES without CAP_SYS_PTRACE). A zombie
 * and a kernel thread have no address space and yield an empty list.
 */
export function readProcessMaps(pid: number, procRoot = '/proc'): Mapping[] {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/maps`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new ProcessGoneError(pid, { cause: err });
    throw err;
  }
  return parseProcessMaps(text);
}

/**
 * Parses the text of a maps file, in its order (ascending addresses). Throws on a line that
 * does not have the kernel's format, naming the line.
 */
export function parseProcessMaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line === '') return;
    const match = MAPS_LINE.exec(line);
    if (match === null)
      throw new Error(`maps line ${index + 1} is not "start-end perms offset dev inode path"`);
    const [, start, end, permissions, offset, device, inode, rawPath = ''] = match;
    let path = rawPath;
    const deleted = path.startsWith('/') && path.endsWith(DELETED_SUFFIX);
    if (deleted) path = path.slice(0, -DELETED_SUFFIX.length);
    mappings.push({
      start: BigInt(`0x${start}`),
      end: BigInt(`0x${end}`),
      fileOffset: BigInt(`0x${offset}`),
      path,
      inode: Number(inode),
      device: device as string,
      executable: permissions?.[2] === 'x',
      deleted,
    });
  });
  return mappings;
}
