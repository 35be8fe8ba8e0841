// SPDX-License-Identifier: Apache-2.0
/**
 * Kafka and ClickHouse as local processes on loopback, for
 * `fleettrace dev-fleet` and for the tests: the files each reads, its command
 * line, and waiting for it. Starting, supervising and stopping the processes
 * stays with the caller (dev-fleet's process groups and reaper, the test
 * harness's child processes with kept output).
 */
export { freePort, ServiceExited, sleep, tailOf, waitFor } from './readiness';
export {
  KAFKA_VERSION,
  kafkaBrokerArgs,
  kafkaFormatArgs,
  kafkaJar,
  kafkaLibs,
  serviceCache,
  writeKafkaConfig,
  type KafkaConfig,
  type KafkaSaslUser,
} from './kafka-config';
export {
  clickHouseBinary,
  waitForClickHouse,
  writeClickHouseConfig,
  type ClickHouseConfig,
} from './clickhouse-config';
