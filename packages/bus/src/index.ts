// SPDX-License-Identifier: Apache-2.0
export * from './bus';
export { KafkaBus, type KafkaBusOptions } from './kafka-bus';
export { LocalBus, type LocalBusOptions, encodeFrames, decodeFrames } from './local-bus';
export { busFromSettings } from './bus-settings';
export {
  ROWS_ENCODING,
  rowLine,
  packRows,
  unpackRows,
  unpackLines,
  batchIdOf,
  UndecodableBatchError,
} from './event-envelope';
export { ControlEventSender } from './control-event-sender';
