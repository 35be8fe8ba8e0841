// SPDX-License-Identifier: Apache-2.0
/**
 * Where a message that cannot be decoded goes, with the reason, so that it
 * does not stall its partition: Kafka's dead-letter topic (the original
 * bytes, key and headers, plus x-fleettrace-* headers saying why and from
 * where), or, on the local bus, files in the data directory. Ingest commits
 * past a message only once its dead letter is written.
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TOPICS, type Bus, type ConsumedMessage } from '@fleettrace/bus';

export interface DeadLetterSink {
  send(message: ConsumedMessage, reason: string): Promise<void>;
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

  async send(message: ConsumedMessage, reason: string): Promise<void> {
    await this.bus.publish(TOPICS.deadLetter, [
      { key: message.key, value: message.value, headers: headersOf(message, reason) },
    ]);
  }
}

/** <dir>/<time>-<topic>-<offset>.bin with the bytes, and .json beside it with the headers. */
export class DirectoryDeadLetters implements DeadLetterSink {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  async send(message: ConsumedMessage, reason: string): Promise<void> {
    const base = join(this.dir, `${Date.now()}-${message.topic}-${message.offset}`);
    await writeFile(`${base}.bin`, message.value, { mode: 0o600 });
    await writeFile(
      `${base}.json`,
      JSON.stringify({ key: message.key, headers: headersOf(message, reason) }, null, 2) + '\n',
      {
        mode: 0o600,
      },
    );
  }
}
