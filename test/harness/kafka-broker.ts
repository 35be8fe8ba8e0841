// SPDX-License-Identifier: Apache-2.0
/**
 * An Apache Kafka 3.9 broker in KRaft mode (broker and controller in one
 * JVM), run from the jars scripts/test-services.mjs caches from Maven
 * Central, on loopback ports with its log directory in a temporary
 * directory. kill() is SIGKILL (a crashed broker); start() again reuses the
 * same log directory, node id and ports, so clients reconnect to the same
 * address and committed data survives.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { freePort, LocalProcess, waitFor } from './local-processes';

const KAFKA_VERSION = '3.9.1';

function kafkaLibs(): string {
  const cache = process.env.FLEETTRACE_CACHE ?? '/var/cache/fleettrace';
  const libs = join(cache, `kafka-${KAFKA_VERSION}`, 'libs');
  if (!existsSync(join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
    execFileSync(process.execPath, [resolve(__dirname, '../../../scripts/test-services.mjs')], {
      stdio: 'inherit',
    });
  }
  return libs;
}

export class KafkaBroker {
  private process?: LocalProcess;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly libs: string,
    /** with start({ sasl }): the one client user the broker knows (SASL/PLAIN) */
    readonly sasl?: { username: string; password: string },
  ) {}

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /**
   * `sasl`: the client listener is SASL_PLAINTEXT with the PLAIN mechanism and
   * knows this one user (and its own inter-broker user); no anonymous access.
   */
  static async start(
    options: { sasl?: { username: string; password: string } } = {},
  ): Promise<KafkaBroker> {
    const libs = kafkaLibs();
    const dir = mkdtempSync(join(tmpdir(), 'fleettrace-kafka-'));
    const [port, controllerPort] = [await freePort(), await freePort()];
    mkdirSync(join(dir, 'data'));
    writeFileSync(
      join(dir, 'server.properties'),
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
        ...(options.sasl
          ? [
              `listeners=SASL_PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
              `advertised.listeners=SASL_PLAINTEXT://127.0.0.1:${port}`,
              'listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT',
              'inter.broker.listener.name=SASL_PLAINTEXT',
              'sasl.enabled.mechanisms=PLAIN',
              'sasl.mechanism.inter.broker.protocol=PLAIN',
              'listener.name.sasl_plaintext.plain.sasl.jaas.config=' +
                'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
                'username="broker" password="broker-secret" user_broker="broker-secret" ' +
                `user_${options.sasl.username}="${options.sasl.password}";`,
            ]
          : [
              `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
              `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
              'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
            ]),
        'controller.listener.names=CONTROLLER',
        `log.dirs=${dir}/data`,
        'num.partitions=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=1',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=true',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'log4j.properties'),
      [
        'log4j.rootLogger=WARN, file',
        'log4j.appender.file=org.apache.log4j.FileAppender',
        `log4j.appender.file.File=${dir}/broker.log`,
        'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
        'log4j.logger.kafka.server.KafkaRaftServer=INFO',
        '',
      ].join('\n'),
    );
    const cp = `${libs}/*`;
    const clusterId = execFileSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .split('\n')
      .pop()!;
    execFileSync(
      'java',
      [
        '-cp',
        cp,
        `-Dlog4j.configuration=file:${dir}/log4j.properties`,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        join(dir, 'server.properties'),
      ],
      { stdio: 'ignore' },
    );
    const broker = new KafkaBroker(dir, port, libs, options.sasl);
    await broker.startProcess();
    return broker;
  }

  private async startProcess(): Promise<void> {
    this.process = LocalProcess.start('kafka', 'java', [
      '-Xms256m',
      '-Xmx768m',
      '-XX:+UseG1GC',
      '-XX:TieredStopAtLevel=1',
      '-cp',
      `${this.libs}/*`,
      `-Dlog4j.configuration=file:${this.dir}/log4j.properties`,
      'kafka.Kafka',
      join(this.dir, 'server.properties'),
    ]);
    const kafka = new Kafka({
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      ...(this.sasl ? { sasl: { mechanism: 'plain' as const, ...this.sasl } } : {}),
    });
    await waitFor(
      'the Kafka broker to answer metadata requests',
      async () => {
        if (!this.process?.running) throw new Error(`kafka exited: ${this.process?.log}`);
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
