#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Installs and caches what the pipeline tests and bench/ingest start as local
// processes: the ClickHouse 18.16 server (Debian package clickhouse-server)
// and an Apache Kafka 3.9 broker (jars from Maven Central, resolved once by
// Maven into the cache directory and reused). Idempotent; run as root.
//
//   node scripts/test-services.mjs          install what is missing, print where
//   FLEETTRACE_CACHE=DIR                    cache directory (default /var/cache/fleettrace)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KAFKA_VERSION = '3.9.1';
export const cacheDir = process.env.FLEETTRACE_CACHE ?? '/var/cache/fleettrace';
export const kafkaLibs = join(cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');

function installed(pkg) {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).includes(
      'install ok installed',
    );
  } catch {
    return false;
  }
}

function aptInstall(packages) {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return;
  console.log(`test-services: installing ${missing.join(' ')} (Debian)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}

function onPath(tool) {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function ensureClickHouse() {
  aptInstall(['clickhouse-server']);
}

export function ensureKafka() {
  if (existsSync(join(kafkaLibs, `kafka_2.13-${KAFKA_VERSION}.jar`))) return;
  // The broker needs a Java runtime (17 here); Maven resolves its jars.
  if (!onPath('java')) aptInstall(['openjdk-17-jre-headless']);
  if (!onPath('mvn')) aptInstall(['maven']);
  console.log(
    `test-services: resolving Kafka ${KAFKA_VERSION} from Maven Central into ${kafkaLibs}`,
  );
  const work = join(cacheDir, `kafka-${KAFKA_VERSION}`);
  mkdirSync(work, { recursive: true });
  // The broker (kafka_2.13) and its run-time dependencies, plus an slf4j
  // binding for its log4j 1 logging.
  writeFileSync(
    join(work, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.fleettrace.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
`,
  );
  const tmp = `${kafkaLibs}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  execFileSync(
    'mvn',
    [
      '-q',
      '-B',
      'dependency:copy-dependencies',
      `-DoutputDirectory=${tmp}`,
      '-DincludeScope=runtime',
    ],
    { cwd: work, stdio: 'inherit' },
  );
  rmSync(kafkaLibs, { recursive: true, force: true });
  renameSync(tmp, kafkaLibs);
  console.log(`test-services: ${readdirSync(kafkaLibs).length} jars`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureClickHouse();
  ensureKafka();
  console.log(
    `test-services: clickhouse-server installed; Kafka ${KAFKA_VERSION} jars in ${kafkaLibs}`,
  );
}
