// SPDX-License-Identifier: Apache-2.0
export {
  runAgent,
  type AgentOptions,
  type AgentInstance,
  type RunningAgent,
  type ConnectionTuning,
} from './agent';
export { AgentConnection, type ConnectionOptions } from './connection';
export { enroll, fetchVerifiedCa, EnrollError } from './enroll';
export { parseBootstrapToken, caHashOf } from './bootstrap-token';
export { newKeyAndRequest } from './client-key';
export { StateDir, StateDirError, type AgentIdentity } from './state-dir';
export { SyntheticExecutor } from './synthetic-executor';
export { AGENT_VERSION } from './host-facts';
export type { JobExecutor, JobExecutorEvents, RowBatch } from './jobs/job-executor';
export { JobRunner, type JobRunnerOptions } from './jobs/job-runner';
export { EventPublisher, type EventPublisherOptions, PublisherMetrics } from './publish';
export {
  MemoryGovernor,
  DEFAULT_MEMORY_LIMIT_MIB,
  residentBytes,
  type MemoryFigures,
} from './memory/memory-governor';
export { memoryRegistry, metricsToken, serveAgentMetrics } from './memory/agent-metrics';
export {
  agentHealth,
  agentStatusRegistry,
  type AgentHealth,
  type AgentStatusSource,
  type BusState,
} from './agent-status';
