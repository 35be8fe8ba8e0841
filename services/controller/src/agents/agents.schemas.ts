// SPDX-License-Identifier: Apache-2.0
/** Requests and responses of /api/v1/agents; the OpenAPI document is generated from them. */
import { z } from 'zod';
import { choice } from '../http/request-fields.js';

export const AGENT_STATES = ['enrolled', 'connected', 'disconnected', 'lost', 'revoked'] as const;

export const AgentsListQuery = z.object({
  state: choice(AGENT_STATES).optional().meta({ description: 'only agents in this state' }),
});

export const AgentResponse = z.object({
  id: z.string(),
  hostname: z.string(),
  labels: z.record(z.string(), z.string()),
  kernel: z.string(),
  features: z.array(z.string()),
  missing_features: z.record(z.string(), z.string()),
  collectors: z.array(z.string()),
  cpus: z.int(),
  agent_version: z.string(),
  state: z.enum(AGENT_STATES),
  state_reason: z.string(),
  enrolled: z.string(),
  connected: z.string().nullable(),
  last_heartbeat: z.string().nullable(),
  overhead_share: z.number(),
  certificate: z.object({ serial: z.string().nullable(), not_after: z.string().nullable() }),
});

export const AgentListResponse = z.object({ agents: z.array(AgentResponse) });

export type AgentResponse = z.infer<typeof AgentResponse>;
export type AgentListResponse = z.infer<typeof AgentListResponse>;
