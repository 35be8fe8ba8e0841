// SPDX-License-Identifier: Apache-2.0
import { readFileSync, statSync } from 'node:fs';
import { memoryCaches, type CacheFigures, type TrackedCache } from './memory-caches';

/**
 * uid -> user name from the host's passwd file, cached and re-read when the
 * file changes (checked at most every `checkMs`). On shared hosting the uid is
 * the customer, so every row carries both. A copy of the file, so bounded by
 * it rather than by a figure of its own; shown in /metrics as "users", and a
 * shrink drops it (read again at the next lookup).
 */
export class UserNames implements TrackedCache {
  private names = new Map<number, string>();
  private bytes = 0;
  private mtimeMs = -1;
  private checkedAt = 0;
  private evictions = 0;

  constructor(
    private readonly path = '/etc/passwd',
    private readonly checkMs = 5000,
  ) {
    memoryCaches.register(this);
  }

  figures(): CacheFigures {
    return {
      name: 'users',
      entries: this.names.size,
      bytes: this.bytes,
      maxBytes: Infinity,
      evictions: this.evictions,
    };
  }

  shrink(fraction: number): void {
    if (fraction >= 1 || this.names.size === 0) return;
    this.evictions += this.names.size;
    this.names = new Map();
    this.bytes = 0;
    this.mtimeMs = -1;
  }

  name(uid: number): string {
    this.refresh();
    return this.names.get(uid) ?? String(uid);
  }

  private refresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < this.checkMs && this.mtimeMs >= 0) return;
    this.checkedAt = now;
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch {
      return;
    }
    if (mtime === this.mtimeMs) return;
    this.mtimeMs = mtime;
    const names = new Map<number, string>();
    let bytes = 0;
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      const parts = line.split(':');
      if (parts.length < 3) continue;
      const uid = Number(parts[2]);
      if (Number.isInteger(uid) && !names.has(uid)) {
        names.set(uid, parts[0] as string);
        bytes += 64 + 2 * (parts[0] as string).length; // a Map entry and its string
      }
    }
    this.names = names;
    this.bytes = bytes;
  }
}
