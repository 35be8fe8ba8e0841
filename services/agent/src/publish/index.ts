// SPDX-License-Identifier: Apache-2.0
export { EventPublisher, type EventPublisherOptions } from './event-publisher';
export { PublisherMetrics, type LossStage } from './publisher-metrics';
export { DiskSpool, type SpooledBatch } from './disk-spool';
export { SequenceStore } from './sequence-store';
