// SPDX-License-Identifier: Apache-2.0
/**
 * Where a message that cannot be decoded goes, with the reason, so that it
 * does not stall its partition: Kafka's dead-letter topic (the original
 * bytes, key and headers, plus x-fleettrace-* headers saying why and from
 * where), or, on the local bus, files in the data directory. Ingest commits
 * past a message only once its dead letter is written, or, when the
 * directory is at its caps, once the drop is counted (`send` says which).
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TOPICS, type Bus, type ConsumedMessage } from '@fleettrace/bus';

export interface DeadLetterSink {
  /** Keeps the message with the reason; false when it was dropped instead (the sink is full). */
  send(message: ConsumedMessage, reason: string): Promise<boolean>;
}

function headersOf(message: ConsumedMessage, reason: string): Record<string, string> {
  return {
    ...message.headers,
    'x-fleettrace-reason': reason,
    'x-fleettrace-source': `${message.topic}/${message.partition}/${message.offset}`,
    'x-fleettrace-time': new Date().toISOString(),
  };
}

export class BusDeadLetters implements DeadLetterSink {
  constructor(private readonly bus: Bus) {}

  async send(message: ConsumedMessage, reason: string): Promise<boolean> {
    await this.bus.publish(TOPICS.deadLetter, [
      { key: message.key, value: message.value, headers: headersOf(message, reason) },
    ]);
    return true;
  }
}

export interface DirectoryDeadLetterCaps {
  /** bytes of letters kept (default 64 MiB) */
  maxBytes?: number;
  /** letters kept (default 1,000) */
  maxLetters?: number;
}

/**
 * <dir>/<time>-<topic>-<offset>.bin with the bytes, and .json beside it with
 * the headers. Bounded: past `maxBytes` or `maxLetters` (counted from what
 * the directory holds at start) a letter is dropped, and `send` says so, so
 * a flood of undecodable posts cannot fill the disk. An operator who has
 * read the letters deletes them; ingest counts them again at its next start.
 */
export class DirectoryDeadLetters implements DeadLetterSink {
  private bytes = 0;
  private letters = 0;
  private readonly maxBytes: number;
  private readonly maxLetters: number;

  constructor(
    private readonly dir: string,
    caps: DirectoryDeadLetterCaps = {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.maxBytes = caps.maxBytes ?? 64 << 20;
    this.maxLetters = caps.maxLetters ?? 1000;
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.bin')) this.letters++;
      try {
        this.bytes += statSync(join(dir, name)).size;
      } catch {
        // deleted meanwhile
      }
    }
  }

  /** What the directory holds now. */
  usage(): { bytes: number; letters: number } {
    return { bytes: this.bytes, letters: this.letters };
  }

  async send(message: ConsumedMessage, reason: string): Promise<boolean> {
    const meta =
      JSON.stringify({ key: message.key, headers: headersOf(message, reason) }, null, 2) + '\n';
    const size = message.value.length + Buffer.byteLength(meta);
    if (this.letters + 1 > this.maxLetters || this.bytes + size > this.maxBytes) return false;
    this.letters++;
    this.bytes += size;
    const base = join(this.dir, `${Date.now()}-${message.topic}-${message.offset}`);
    await writeFile(`${base}.bin`, message.value, { mode: 0o600 });
    await writeFile(`${base}.json`, meta, { mode: 0o600 });
    return true;
  }
}
