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
