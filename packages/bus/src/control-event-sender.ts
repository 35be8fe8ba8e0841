// SPDX-License-Identifier: Apache-2.0
/**
 * The controller's side of `fleettrace.control`: ControlEvents (job, run and
 * agent changes) onto the bus for ingest to mirror into ClickHouse. Meant to
 * back the controller's ControlEventPublisher, whose contract it keeps:
 * `send` never blocks and never throws; events go out in order, retried
 * while the bus is away; the queue is bounded (oldest dropped and counted),
 * because SQLite stays the source of truth and the mirror is eventually
 * consistent.
 */
import { ControlEvent } from '@fleettrace/proto';
import { TOPICS, type Bus } from './bus';

export class ControlEventSender {
  private queue: Array<{ key: string; value: Buffer }> = [];
  private running?: Promise<void>;
  private closed = false;
  /** events dropped because the queue was full */
  dropped = 0;
  /** events the bus acknowledged */
  sent = 0;

  constructor(
    private readonly bus: Bus,
    private readonly options: {
      capacity?: number;
      retryMs?: number;
      log?: (m: string) => void;
    } = {},
  ) {}

  send(event: ControlEvent): void {
    if (this.closed) return;
    const body = event.body;
    const key = !body ? '' : body.$case === 'agent' ? body.value.agentId : body.value.jobId;
    this.queue.push({ key, value: Buffer.from(ControlEvent.encode(event).finish()) });
    const capacity = this.options.capacity ?? 100_000;
    if (this.queue.length > capacity) {
      this.dropped += this.queue.length - capacity;
      this.queue.splice(0, this.queue.length - capacity);
    }
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Sends what is queued (waiting up to `graceMs`), then stops. */
  async close(graceMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.closed = true;
  }

  private async drain(): Promise<void> {
    let failing = false;
    while (this.queue.length > 0 && !this.closed) {
      const chunk = this.queue.slice(0, 500);
      try {
        await this.bus.publish(TOPICS.control, chunk);
        this.queue.splice(0, chunk.length);
        this.sent += chunk.length;
        failing = false;
      } catch (err) {
        if (!failing)
          this.options.log?.(
            `control events: bus unavailable, retrying: ${(err as Error).message}`,
          );
        failing = true;
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 1000));
      }
    }
  }
}
