// SPDX-License-Identifier: Apache-2.0
/** Request bodies as a client writes them: the input types of the schemas the server validates with. */
import type { z } from 'zod';
import type { TokenRequest } from '../auth/tokens.schemas.js';
import type { JobSpecRequest } from '../jobs/job-spec.js';
import type { ScheduleRequest } from '../schedules/schedules.schemas.js';

export type JobSpecBody = z.input<typeof JobSpecRequest>;
export type ScheduleBody = z.input<typeof ScheduleRequest>;
export type TokenBody = z.input<typeof TokenRequest>;
