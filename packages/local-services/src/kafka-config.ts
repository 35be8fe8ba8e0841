// SPDX-License-Identifier: Apache-2.0
/**
 * An Apache Kafka 3.9 broker in KRaft mode, broker and controller roles in
 * one JVM and one node, on loopback ports: its configuration files and the
 * two Java command lines (format the log directory, run the broker). The
 * caller starts the processes and decides what "ready" means for it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KAFKA_VERSION = '3.9.1';

/** Where `scripts/test-services.mjs` caches the Kafka jars: $FLEETTRACE_CACHE or /var/cache/fleettrace. */
export function serviceCache(): string {
  return process.env.FLEETTRACE_CACHE ?? '/var/cache/fleettrace';
}

/** The directory of the Kafka jars (see serviceCache). */
export function kafkaLibs(): string {
  return join(serviceCache(), `kafka-${KAFKA_VERSION}`, 'libs');
}

/** The broker's own jar: present once the jars are installed. */
export function kafkaJar(): string {
  return join(kafkaLibs(), `kafka_2.13-${KAFKA_VERSION}.jar`);
}

/** A SASL/PLAIN user: with it the client listener is SASL_PLAINTEXT and allows only this user. */
export interface KafkaSaslUser {
  username: string;
  password: string;
}

export interface KafkaConfig {
  dir: string;
  port: number;
  controllerPort: number;
  /** server.properties, for the storage tool and the broker */
  properties: string;
  log4j: string;
  /** the broker's own log (log4j), besides the process's output */
  brokerLog: string;
}

/**
 * Writes server.properties and log4j.properties into `dir` (and makes
 * `dir`/data, the log directory). The client listener is `port`, the KRaft
 * controller's `controllerPort`; with `sasl` the client listener is
 * SASL_PLAINTEXT with the PLAIN mechanism, knowing that user and the broker's
 * own inter-broker user, and nothing is anonymous.
 */
export function writeKafkaConfig(
  dir: string,
  options: { port: number; controllerPort: number; sasl?: KafkaSaslUser },
): KafkaConfig {
  const { port, controllerPort, sasl } = options;
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config: KafkaConfig = {
    dir,
    port,
    controllerPort,
    properties: join(dir, 'server.properties'),
    log4j: join(dir, 'log4j.properties'),
    brokerLog: join(dir, 'broker.log'),
  };
  const listener = sasl ? 'SASL_PLAINTEXT' : 'PLAINTEXT';
  writeFileSync(
    config.properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=${listener}://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=${listener}://127.0.0.1:${port}`,
      `listener.security.protocol.map=${listener}:${listener},CONTROLLER:PLAINTEXT`,
      'controller.listener.names=CONTROLLER',
      ...(sasl
        ? [
            'inter.broker.listener.name=SASL_PLAINTEXT',
            'sasl.enabled.mechanisms=PLAIN',
            'sasl.mechanism.inter.broker.protocol=PLAIN',
            'listener.name.sasl_plaintext.plain.sasl.jaas.config=' +
              'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
              'username="broker" password="broker-secret" user_broker="broker-secret" ' +
              `user_${sasl.username}="${sasl.password}";`,
          ]
        : []),
      `log.dirs=${dir}/data`,
      // One node: every internal topic has one replica.
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
    config.log4j,
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${config.brokerLog}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      '',
    ].join('\n'),
  );
  return config;
}

function javaArgs(config: KafkaConfig, libs: string): string[] {
  return ['-cp', `${libs}/*`, `-Dlog4j.configuration=file:${config.log4j}`];
}

/**
 * `java` arguments that format the log directory for a new cluster; run once,
 * before the first start. A KRaft cluster id is 16 random bytes in unpadded
 * base64url (what `kafka-storage.sh random-uuid` prints): making it here saves
 * a JVM start.
 */
export function kafkaFormatArgs(config: KafkaConfig, libs = kafkaLibs()): string[] {
  return [
    ...javaArgs(config, libs),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    newClusterId(),
    '-c',
    config.properties,
  ];
}

/**
 * A KRaft cluster id. One in 64 random ids starts with "-", which the storage
 * tool takes for an option ("format -t -px5V…" failed a CI run); Kafka's own
 * random-uuid draws again in that case, and so does this.
 */
export function newClusterId(random: () => Buffer = () => randomBytes(16)): string {
  for (;;) {
    const id = random().toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** `java` arguments that run the broker on a formatted log directory. */
export function kafkaBrokerArgs(config: KafkaConfig, libs = kafkaLibs()): string[] {
  return [
    '-Xms256m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    // C1 only: the broker is up seconds sooner, and a dev fleet's or a test's load is small.
    '-XX:TieredStopAtLevel=1',
    ...javaArgs(config, libs),
    'kafka.Kafka',
    config.properties,
  ];
}
