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
export { MIGRATIONS, HAND_MIGRATIONS, fromGenerated, type Migration } from './schema/migrations';
export {
  generatedState,
  pendingMigration,
  renderSchemaDoc,
  renderKernelsDoc,
  renderRolesDoc,
} from './schema/collector-schema';
export {
  RowRouter,
  topLevelKeys,
  type TableSet,
  type UnmappedFieldSink,
} from './writer/row-routing';
export { TableBuffer, TsvTableBuffer, type BatchContext } from './writer/table-buffer';
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
