// SPDX-License-Identifier: Apache-2.0
/**
 * The bounded on-disk queue where batches wait while the bus is unreachable.
 * One file per encoded EventBatch, named "<sequence, 20 digits>-<rows>.batch",
 * so a directory listing sorted by name is the publish order, the row count
 * of a dropped batch is known without reading it, and a restarted agent finds
 * its queue as it left it. Files are written under a temporary name and
 * renamed: a crash leaves either the whole batch or none of it.
 *
 * Bounded: when an append takes the total over `maxBytes`, the oldest batches
 * are deleted and reported as dropped (the caller counts them as lost).
 *
 * Contract: not safe for concurrent callers; the publisher's single send loop
 * owns it. Every method may block on disk I/O (async, off the event loop).
 */
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SpooledBatch {
  sequence: number;
  rowCount: number;
  /** the encoded fleettrace.v1.EventBatch */
  bytes: Buffer;
}

interface Entry {
  sequence: number;
  rowCount: number;
  size: number;
  file: string;
}

const NAME = /^(\d{20})-(\d+)\.batch$/;

export class DiskSpool {
  private entries: Entry[] = [];
  private total = 0;

  /** Opens (creating if needed) the spool in `dir`; removes half-written files of a crash. */
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir).sort()) {
      const m = name.match(NAME);
      const file = join(dir, name);
      if (!m) {
        if (name.endsWith('.tmp')) unlinkSync(file);
        continue;
      }
      const size = statSync(file).size;
      this.entries.push({ sequence: Number(m[1]), rowCount: Number(m[2]), size, file });
      this.total += size;
    }
  }

  get count(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.total;
  }

  /** The highest sequence spooled, 0 when empty. */
  get lastSequence(): number {
    return this.entries[this.entries.length - 1]?.sequence ?? 0;
  }

  /**
   * Appends batches (their sequences must be higher than any spooled one) and
   * then drops the oldest while over the bound. Returns what was dropped.
   */
  async append(batches: SpooledBatch[]): Promise<{ batches: number; rows: number }> {
    for (const b of batches) {
      if (b.sequence <= this.lastSequence)
        throw new Error(`spool: sequence ${b.sequence} is not after ${this.lastSequence}`);
      const name = `${String(b.sequence).padStart(20, '0')}-${b.rowCount}.batch`;
      const file = join(this.dir, name);
      await writeFile(file + '.tmp', b.bytes, { mode: 0o600 });
      await rename(file + '.tmp', file);
      this.entries.push({ sequence: b.sequence, rowCount: b.rowCount, size: b.bytes.length, file });
      this.total += b.bytes.length;
    }
    const dropped = { batches: 0, rows: 0 };
    while (this.total > this.maxBytes && this.entries.length > 0) {
      const e = this.entries.shift()!;
      this.total -= e.size;
      await unlink(e.file).catch(() => undefined);
      dropped.batches++;
      dropped.rows += e.rowCount;
    }
    return dropped;
  }

  /** The oldest batches, in order, up to `maxBytes` in total (at least one when not empty). */
  async head(maxBytes: number): Promise<SpooledBatch[]> {
    const out: SpooledBatch[] = [];
    let size = 0;
    for (const e of this.entries) {
      if (out.length > 0 && size + e.size > maxBytes) break;
      out.push({ sequence: e.sequence, rowCount: e.rowCount, bytes: await readFile(e.file) });
      size += e.size;
    }
    return out;
  }

  /** Removes the oldest `n` batches (after they were published). */
  async removeHead(n: number): Promise<void> {
    for (const e of this.entries.splice(0, n)) {
      this.total -= e.size;
      await unlink(e.file).catch(() => undefined);
    }
  }
}
