// SPDX-License-Identifier: Apache-2.0
/** Responses of the health routes; the OpenAPI document is generated from them. */
import { z } from 'zod';

export const HealthResponse = z.object({ status: z.literal('ok') });

export const ReadyResponse = z.object({
  status: z.literal('ready'),
  enroll: z.string().meta({ description: 'enrollment listener, HOST:PORT' }),
  control: z.string().meta({ description: 'agent control listener, HOST:PORT' }),
  connected_agents: z.int(),
});

export type HealthResponse = z.infer<typeof HealthResponse>;
export type ReadyResponse = z.infer<typeof ReadyResponse>;
