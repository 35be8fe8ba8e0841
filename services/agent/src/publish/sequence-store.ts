// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's batch sequence numbers, increasing across restarts. The file
 * holds the first number NOT yet handed out by any run of the agent; numbers
 * are reserved in blocks (one durable write per block, not per batch), so a
 * restart skips the rest of the previous block: sequences have gaps, never
 * repeats. A repeat would make two different batches share a batch id and
 * collapse into one in the store.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export class SequenceStore {
  private next: number;
  private reservedUpTo: number;

  /** `atLeast`: a floor from elsewhere (the spool's last sequence + 1), for a lost file. */
  constructor(
    private readonly file: string,
    atLeast = 1,
    private readonly block = 10_000,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    let stored = 1;
    try {
      stored = Number(readFileSync(file, 'utf8').trim());
      if (!Number.isSafeInteger(stored) || stored < 1)
        throw new Error(`${file}: not a sequence number`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.next = Math.max(stored, atLeast);
    this.reservedUpTo = this.next;
  }

  /** The next sequence number; writes (and fsyncs) the file once per block. */
  take(): number {
    if (this.next >= this.reservedUpTo) {
      this.reservedUpTo = this.next + this.block;
      const tmp = `${this.file}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, `${this.reservedUpTo}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    }
    return this.next++;
  }
}
