// SPDX-License-Identifier: Apache-2.0
export * from './bus';
export { KafkaBus, type KafkaBusOptions } from './kafka-bus';
export {
  LocalBus,
  PUBLISHER_HEADER,
  type LocalBusOptions,
  type LocalPublisher,
  encodeFrames,
  decodeFrames,
} from './local-bus';
export { busFromSettings } from './bus-settings';
export {
  ROWS_ENCODING,
  TABLES_ENCODING,
  packTables,
  unpackTables,
  type PackedSegment,
  type UnpackedSegment,
  rowLine,
  packRows,
  unpackRows,
  unpackLines,
  MAX_UNPACKED_BYTES,
  batchIdOf,
  UndecodableBatchError,
} from './event-envelope';
export { ControlEventSender } from './control-event-sender';
