// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's EventPublisher alone in a process, for crash tests: the parent
 * kills it with SIGKILL and starts it again on the same state directory.
 * Configured by FLEETTRACE_PUBLISHER_CHILD (JSON, see ChildConfig). It
 * publishes `batches` one-row-per-batch proc batches of `jobId`, then stays
 * up. Lines on stdout: "attempt <sequence>" for every batch handed to the bus,
 * "acked <sequence>" for every one the bus acknowledged, "spool <n>" when the
 * spool's size changed, "idle" once everything was published and the spool
 * is empty.
 */
import { LocalBus, TOPICS, type Bus, type BusMessage } from '@fleettrace/bus';
import { EventBatch } from '@fleettrace/proto';
import { EventPublisher } from '@fleettrace/agent';

export interface ChildConfig {
  stateDir: string;
  agentId: string;
  jobId: string;
  batches: number;
  /** the local bus to publish to; without it, a bus in this process acknowledges everything */
  bus?: { address: string; token: string };
}

const config = JSON.parse(process.env.FLEETTRACE_PUBLISHER_CHILD ?? '{}') as ChildConfig;
const say = (line: string) => process.stdout.write(line + '\n');

const inner: Pick<Bus, 'publish' | 'close'> = config.bus
  ? new LocalBus({ ...config.bus, publishTimeoutMs: 2000 })
  : { publish: async () => undefined, close: async () => undefined };

const bus = {
  kind: 'local',
  async publish(topic: string, messages: BusMessage[]) {
    const sequences = messages.map((m) => EventBatch.decode(m.value).sequence);
    if (topic === TOPICS.events) for (const s of sequences) say(`attempt ${s}`);
    await inner.publish(topic, messages);
    if (topic === TOPICS.events) for (const s of sequences) say(`acked ${s}`);
  },
  subscribe: () => Promise.reject(new Error('publish only')),
  close: () => inner.close(),
} as Bus;

const publisher = new EventPublisher({
  agentId: config.agentId,
  host: 'crash-test-host',
  bus,
  stateDir: config.stateDir,
  maxDelayMs: 20,
  retryMinMs: 100,
  retryMaxMs: 500,
  log: (m) => process.stderr.write(`publish: ${m}\n`),
});

async function main(): Promise<void> {
  say(`spool ${publisher.spoolState().batches}`);
  for (let i = 0; i < config.batches; i++) {
    publisher.publish({
      jobId: config.jobId,
      runId: `${config.jobId}-run`,
      collector: 'proc',
      weight: 1,
      lost: 0,
      rows: [
        {
          ts_ns: (BigInt(Date.now()) * 1_000_000n).toString(),
          pid: process.pid,
          tid: process.pid,
          uid: 0,
          user: 'root',
          comm: 'crash-test',
          cgroup: '/',
          event: 'fork',
          child_pid: 100_000 + i,
        },
      ],
    });
    // One batch each: flush cuts the open batch and waits until it is acknowledged or spooled.
    await publisher.flush();
    say(`spool ${publisher.spoolState().batches}`);
  }
  for (;;) {
    if (publisher.spoolState().batches === 0) {
      say('idle');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  setInterval(() => undefined, 1 << 30);
}

void main();
