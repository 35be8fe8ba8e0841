// SPDX-License-Identifier: Apache-2.0
export { IngestService, type IngestOptions, type IngestHealth } from './service/ingest-service';
export {
  startIngestProcess,
  type IngestProcessOptions,
  type RunningIngest,
} from './service/ingest-main';
export { serveIngestHttp } from './service/ingest-http';
export { Failpoints, FAILPOINT_NAMES, type FailpointName } from './service/failpoints';
export { BusDeadLetters, DirectoryDeadLetters, type DeadLetterSink } from './service/dead-letters';
export { MIGRATIONS, type Migration } from './schema/migrations';
export {
  migrate,
  tableColumns,
  applyRetention,
  type RetentionOptions,
} from './schema/schema-manager';
export {
  clusterSchema,
  DEFAULT_REPLICA,
  DEFAULT_ZOOKEEPER_PATH,
  LOCAL_SUFFIX,
  type ClusterSchema,
  type ClusterSchemaOptions,
  type ClusterTable,
} from './schema/cluster-schema';
