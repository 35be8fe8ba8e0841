// SPDX-License-Identifier: Apache-2.0
/**
 * Owner-only data directories. On a shared host every customer is a local
 * user, so nothing a fleettrace process keeps on disk (SQLite, chDB parts,
 * keys, tokens, dead letters) may be readable beyond its owner. A 0700 top
 * directory alone is not enough: mkdir(2) with a mode does not change a
 * directory that already exists, and a tree copied, restored or written by an
 * older version keeps whatever modes it had.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** What secureDataDir found: entries looked at, modes narrowed, and those it could not narrow. */
export interface SecuredDataDir {
  dir: string;
  checked: number;
  fixed: number;
  failed: Array<{ path: string; error: string }>;
}

/**
 * Sets the process umask to 0077, so every file and directory this process
 * and the libraries in it (SQLite, chDB) create from now on is owner-only.
 * The umask is per process: the entry point of each fleettrace process calls
 * this before it creates anything.
 */
export function ownerOnlyUmask(): void {
  process.umask(0o077);
}

/**
 * Makes `dir` (created 0700 if missing) and everything under it owner-only:
 * group and other bits are cleared, the owner's bits are kept (a 0644 file
 * becomes 0600, a 0755 one 0700, a 0400 key stays 0400; set-id and sticky bits
 * go too, no data file needs them). Symbolic links are
 * neither followed nor changed: chmod(2) would act on their target, which may
 * lie outside the directory. Sets the owner-only umask first.
 *
 * Synchronous: it runs once at start, before the process opens the files.
 * Entries it cannot change (EPERM on another user's file) are reported, not
 * thrown, so the caller logs them and goes on.
 */
export function secureDataDir(dir: string): SecuredDataDir {
  ownerOnlyUmask();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const result: SecuredDataDir = { dir, checked: 0, fixed: 0, failed: [] };
  const visit = (path: string): void => {
    let mode: number;
    let isDirectory: boolean;
    try {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) return;
      mode = st.mode;
      isDirectory = st.isDirectory();
    } catch (err) {
      // Removed while we walk (a chDB merge): nothing left to protect.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        result.failed.push({ path, error: (err as Error).message });
      return;
    }
    result.checked++;
    if ((mode & 0o077) !== 0) {
      try {
        chmodSync(path, mode & 0o700);
        result.fixed++;
      } catch (err) {
        result.failed.push({ path, error: (err as Error).message });
      }
    }
    if (!isDirectory) return;
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        result.failed.push({ path, error: (err as Error).message });
      return;
    }
    for (const name of names) visit(join(path, name));
  };
  visit(dir);
  return result;
}

/** One line for the log: what secureDataDir changed, and the first entries it could not. */
export function describeSecuredDataDir(r: SecuredDataDir): string {
  const failed = r.failed.length
    ? `; ${r.failed.length} could not be changed: ${r.failed
        .slice(0, 3)
        .map((f) => `${f.path} (${f.error})`)
        .join(', ')}${r.failed.length > 3 ? ', ...' : ''}`
    : '';
  return `data directory ${r.dir}: ${r.fixed} of ${r.checked} entries made owner-only${failed}`;
}
