// SPDX-License-Identifier: Apache-2.0
/**
 * An Apache Kafka 3.9 broker in KRaft mode (broker and controller in one
 * JVM), run from the jars scripts/test-services.mjs caches from Maven
 * Central, on loopback ports with its log directory in a temporary
 * directory; configured by @fleettrace/local-services as `fleettrace
 * dev-fleet` configures its broker. kill() is SIGKILL (a crashed broker);
 * start() again reuses the same log directory, node id and ports, so clients
 * reconnect to the same address and committed data survives.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import {
  kafkaBrokerArgs,
  kafkaFormatArgs,
  kafkaJar,
  writeKafkaConfig,
  type KafkaConfig,
  type KafkaSaslUser,
} from '@fleettrace/local-services';
import { freePort, LocalProcess, ServiceExited, waitFor } from './local-processes';

/** Installs the Kafka jars (scripts/test-services.mjs) if they are not cached yet. */
function installKafkaJars(): void {
  if (existsSync(kafkaJar())) return;
  execFileSync(process.execPath, [resolve(__dirname, '../../../scripts/test-services.mjs')], {
    stdio: 'inherit',
  });
}

export class KafkaBroker {
  private process?: LocalProcess;

  private constructor(
    private readonly config: KafkaConfig,
    /** with start({ sasl }): the one client user the broker knows (SASL/PLAIN) */
    readonly sasl?: KafkaSaslUser,
  ) {}

  get dir(): string {
    return this.config.dir;
  }

  get port(): number {
    return this.config.port;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /**
   * `sasl`: the client listener is SASL_PLAINTEXT with the PLAIN mechanism and
   * knows this one user (and its own inter-broker user); no anonymous access.
   */
  static async start(options: { sasl?: KafkaSaslUser } = {}): Promise<KafkaBroker> {
    installKafkaJars();
    const dir = mkdtempSync(join(tmpdir(), 'fleettrace-kafka-'));
    const [port, controllerPort] = [await freePort(), await freePort()];
    const config = writeKafkaConfig(dir, { port, controllerPort, sasl: options.sasl });
    execFileSync('java', kafkaFormatArgs(config), { stdio: 'ignore' });
    const broker = new KafkaBroker(config, options.sasl);
    await broker.startProcess();
    return broker;
  }

  private async startProcess(): Promise<void> {
    this.process = LocalProcess.start('kafka', 'java', kafkaBrokerArgs(this.config));
    const kafka = new Kafka({
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      ...(this.sasl ? { sasl: { mechanism: 'plain' as const, ...this.sasl } } : {}),
    });
    await waitFor(
      'the Kafka broker to answer metadata requests',
      async () => {
        if (!this.process?.running) throw new ServiceExited(`kafka exited: ${this.process?.log}`);
        const admin = kafka.admin();
        try {
          await admin.connect();
          await admin.listTopics();
          return true;
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      90_000,
      500,
    );
  }

  /** SIGKILL: the broker dies without a clean shutdown. */
  async kill(): Promise<void> {
    await this.process?.stop('SIGKILL');
  }

  /** SIGSTOP: the broker keeps its connections open and answers nothing (a hung broker). */
  pause(): void {
    this.process?.child.kill('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.process?.child.kill('SIGCONT');
  }

  /** Starts the broker again on the same data and ports (after kill or stop). */
  async restart(): Promise<void> {
    if (this.process?.running) await this.kill();
    await this.startProcess();
  }

  async destroy(): Promise<void> {
    this.resume();
    await this.process?.stop('SIGTERM', 10_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
