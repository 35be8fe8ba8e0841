// SPDX-License-Identifier: Apache-2.0
/**
 * A bus from the BusSettings the controller hands an agent at enrollment
 * (proto/fleettrace/v1/agent.proto), with errors that name the bad field.
 */
import type { BusSettings } from '@fleettrace/proto';
import { BusError, type Bus } from './bus';
import { KafkaBus } from './kafka-bus';
import { LocalBus } from './local-bus';

const SASL = new Set(['plain', 'scram-sha-256', 'scram-sha-512']);

export function busFromSettings(settings: BusSettings, clientId = 'fleettrace'): Bus {
  switch (settings.kind) {
    case 'kafka': {
      if (settings.brokers.length === 0)
        throw new BusError('bus settings', 'brokers: empty for kind "kafka"');
      let sasl: ConstructorParameters<typeof KafkaBus>[0]['sasl'];
      if (settings.saslMechanism) {
        const mechanism = settings.saslMechanism.toLowerCase();
        if (!SASL.has(mechanism))
          throw new BusError(
            'bus settings',
            `sasl_mechanism: ${JSON.stringify(settings.saslMechanism)} is not one of ${[...SASL].join(', ')}`,
          );
        sasl = {
          mechanism: mechanism as 'plain',
          username: settings.saslUsername,
          password: settings.saslPassword,
        };
      }
      return new KafkaBus({ brokers: settings.brokers, clientId, tls: settings.tls, sasl });
    }
    case 'local':
      if (!settings.localAddress)
        throw new BusError('bus settings', 'local_address: empty for kind "local"');
      return new LocalBus({ address: settings.localAddress });
    default:
      throw new BusError(
        'bus settings',
        `kind: ${JSON.stringify(settings.kind)} is not "kafka" or "local"`,
      );
  }
}
