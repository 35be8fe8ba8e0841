// SPDX-License-Identifier: Apache-2.0
/**
 * The services a config file has sections for. Each command module owns its
 * option table and --help; they are loaded only when a section of theirs is
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
      return { name: 'controller', options: m.CONTROLLER_OPTIONS, help: m.CONTROLLER_HELP };
    },
  },
  {
    name: 'agent',
    spec: () => {
      const m = require('./commands/agent') as typeof import('./commands/agent');
      return { name: 'agent', options: m.AGENT_OPTIONS, help: m.AGENT_HELP };
    },
  },
  {
    name: 'ingest',
    spec: () => {
      const m = require('./commands/ingest') as typeof import('./commands/ingest');
      return { name: 'ingest', options: m.INGEST_OPTIONS, help: m.INGEST_HELP };
    },
  },
];
/* eslint-enable @typescript-eslint/no-require-imports */
