// SPDX-License-Identifier: Apache-2.0
import { readFileSync, statSync } from 'node:fs';

/**
 * uid -> user name from the host's passwd file, cached and re-read when the
 * file changes (checked at most every `checkMs`). On shared hosting the uid is
 * the customer, so every row carries both.
 */
export class UserNames {
  private names = new Map<number, string>();
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(
    private readonly path = '/etc/passwd',
    private readonly checkMs = 5000,
  ) {}

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
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      const parts = line.split(':');
      if (parts.length < 3) continue;
      const uid = Number(parts[2]);
      if (Number.isInteger(uid) && !names.has(uid)) names.set(uid, parts[0] as string);
    }
    this.names = names;
  }
}
