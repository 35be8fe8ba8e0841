// SPDX-License-Identifier: Apache-2.0
/** Kafka connection flags, shared by the services that talk to the brokers. */
import type { BusSettings } from '@fleettrace/proto';
import { UsageError } from './cli-error';
import { readSecret, secretOptions } from './secret-flags';
import type { OptionSpecs } from './command';

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'];

/** How to reach the brokers beyond their addresses (controller, ingest); each needs --brokers. */
export function kafkaConnectionOptions(section?: string) {
  const where = section !== undefined ? { section } : {};
  return {
    'kafka-tls': {
      type: 'boolean',
      help: 'connect to the brokers over TLS (system CAs)',
      ...where,
    },
    'kafka-sasl-mechanism': {
      type: 'string',
      placeholder: SASL_MECHANISMS.join('|'),
      help: 'authenticate to the brokers with SASL',
      ...where,
    },
    'kafka-sasl-user': { type: 'string', placeholder: 'NAME', help: 'the SASL user', ...where },
    ...secretOptions(
      'kafka-sasl-password',
      'the SASL password (default $FLEETTRACE_KAFKA_SASL_PASSWORD)',
      section,
    ),
  } as const satisfies OptionSpecs;
}

/** The names of kafkaConnectionOptions. */
export const KAFKA_CONNECTION_FLAGS = Object.keys(kafkaConnectionOptions());

/**
 * The --brokers and --kafka-* flags (controller, ingest) as BusSettings, the
 * form agents get them in; undefined without --brokers.
 */
export function kafkaSettings(values: Record<string, unknown>): BusSettings | undefined {
  const raw = values.brokers as string | undefined;
  if (raw === undefined) {
    for (const flag of KAFKA_CONNECTION_FLAGS)
      if (values[flag] !== undefined) throw new UsageError(`--${flag}: needs --brokers`);
    return undefined;
  }
  const brokers = raw
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (!brokers.length) throw new UsageError('--brokers: expected host:port,..., got nothing');
  for (const b of brokers)
    if (!/^(?:\[[^\]]+\]|[^:[\]\s]+):\d{1,5}$/.test(b) || Number(b.split(':').pop()) > 65535)
      throw new UsageError(`--brokers: expected host:port, got ${JSON.stringify(b)}`);
  const mechanism = values['kafka-sasl-mechanism'] as string | undefined;
  const user = values['kafka-sasl-user'] as string | undefined;
  const password = readSecret(values, {
    flag: 'kafka-sasl-password',
    env: 'FLEETTRACE_KAFKA_SASL_PASSWORD',
  });
  if (mechanism !== undefined && !SASL_MECHANISMS.includes(mechanism))
    throw new UsageError(
      `--kafka-sasl-mechanism: expected ${SASL_MECHANISMS.join(', ')}, got ${JSON.stringify(mechanism)}`,
    );
  if (mechanism === undefined && user !== undefined)
    throw new UsageError('--kafka-sasl-user: needs --kafka-sasl-mechanism');
  if (mechanism !== undefined && !user)
    throw new UsageError('--kafka-sasl-user: needed with --kafka-sasl-mechanism');
  if (mechanism !== undefined && !password)
    throw new UsageError(
      '--kafka-sasl-password-file: needed with --kafka-sasl-mechanism (or $FLEETTRACE_KAFKA_SASL_PASSWORD)',
    );
  return {
    kind: 'kafka',
    brokers,
    topic: '',
    tls: values['kafka-tls'] === true,
    saslMechanism: mechanism ?? '',
    saslUsername: mechanism !== undefined ? (user ?? '') : '',
    // Agents get it over the enrollment (TLS) and control (mutual TLS) streams only.
    saslPassword: mechanism !== undefined ? (password ?? '') : '',
    localAddress: '',
  };
}
