// SPDX-License-Identifier: Apache-2.0
export { startController, type RunningController } from './controller-app.js';
export { DEFAULTS, parseHostPort, type ControllerOptions } from './config/controller-config.js';
export { JsonLogger, parseLogLevel, type LogLevel } from '@fleettrace/common';
export {
  InMemoryControlEventPublisher,
  type ControlEventPublisher,
} from './events/control-event-publisher.js';
export { caHashOf } from './pki/certificate-authority.js';
export { adminOnlyCollectors, ROLES, type Role } from './auth/roles.js';
/**
 * The REST API's response bodies, inferred from the schemas the OpenAPI
 * document is generated from: a client imports these rather than
 * redeclaring them.
 */
export type { AgentListResponse, AgentResponse } from './agents/agents.schemas.js';
export type { AuditEntryResponse, AuditListResponse } from './audit/audit.schemas.js';
export type {
  CreatedTokenResponse,
  TokenListResponse,
  TokenResponse,
  WhoamiResponse,
} from './auth/tokens.schemas.js';
export type { HealthResponse, ReadyResponse } from './health/health.schemas.js';
export type {
  JobListResponse,
  JobResponse,
  JobSpecResponse,
  RunResponse,
} from './jobs/jobs.schemas.js';
export type { QueryAnswerResponse, StoredResponse } from './query/query.schemas.js';
export type { ScheduleListResponse, ScheduleResponse } from './schedules/schedules.schemas.js';
/** What a client may send: the input side of the request schemas. */
export type { JobSpecBody, ScheduleBody, TokenBody } from './openapi/request-bodies.js';
