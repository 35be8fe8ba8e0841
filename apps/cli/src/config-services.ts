// SPDX-License-Identifier: Apache-2.0
/**
 * The services a config file has sections for. Each command module owns its
 * options; they are loaded only when a section of theirs is
 * checked (ingest's pulls in the store, which the agent's host may not have).
 */
import type { ServiceSpec } from './config-keys';

export interface ServiceEntry {
  name: string;
  spec: () => ServiceSpec;
}

/* eslint-disable @typescript-eslint/no-require-imports */
export const SERVICES: readonly ServiceEntry[] = [
  {
    name: 'controller',
    spec: () => {
      const m = require('./commands/controller') as typeof import('./commands/controller');
      return { name: 'controller', options: m.CONTROLLER_OPTIONS };
    },
  },
  {
    name: 'agent',
    spec: () => {
      const m = require('./commands/agent') as typeof import('./commands/agent');
      return { name: 'agent', options: m.AGENT_OPTIONS };
    },
  },
  {
    name: 'ingest',
    spec: () => {
      const m = require('./commands/ingest') as typeof import('./commands/ingest');
      return { name: 'ingest', options: m.INGEST_OPTIONS };
    },
  },
];
/* eslint-enable @typescript-eslint/no-require-imports */
