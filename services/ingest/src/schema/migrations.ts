// SPDX-License-Identifier: Apache-2.0
/**
 * The schema, as versioned migrations owned by ingest (DESIGN.md "Storage";
 * users' documentation in docs/schema.md). One SQL text for both stores and
 * every supported server: what old servers lack is switched off through
 * StoreFeatures (LowCardinality, codecs, the insert deduplication window),
 * never written twice. Applied migrations are recorded in
 * fleettrace.schema_migrations; a migration is never edited once released,
 * a change is a new one. Every statement is idempotent (IF NOT EXISTS), so
 * two ingest processes starting at once do no harm.
 *
 * Exactly once: event tables are ReplacingMergeTree with batch_id, row_idx
 * last in the sorting key, so a batch stored twice collapses into one copy in
 * merges and in FINAL (DESIGN.md). Both copies land in the same partition
 * because `time` comes from the row itself.
 *
 * Collector tables come from the collectors' manifests: migrations 1 and 2
 * below created the first ones by hand (they are the baseline of the
 * generated state and stay as released); every later change to a collector
 * table is a generated migration (collector-schema.ts, appended by
 * scripts/gen-schema.mjs). Tables that are not a collector's (stacks,
 * batches, controller state) and changes the generator refuses (a type
 * change, a removed column) are written here by hand.
 */
import type { GeneratedMigration } from '@fleettrace/collector-spec';
import type { StoreFeatures } from '@fleettrace/store';
import { GENERATED_MIGRATIONS } from './collector-migrations.gen';
import { stepSql } from './collector-schema';

export interface Migration {
  version: number;
  name: string;
  statements(f: StoreFeatures): string[];
}

/** Column-type helpers that degrade on old servers. */
function types(f: StoreFeatures) {
  return {
    /** LowCardinality(String) where supported: repetitive names (host, user, comm) */
    lc: f.lowCardinality ? 'LowCardinality(String)' : 'String',
    /** ts_ns: mostly increasing, so delta-encoded where codecs exist */
    tsNs: f.codecs ? 'UInt64 CODEC(Delta, ZSTD(1))' : 'UInt64',
    /** the server drops a re-sent block with the same insert_deduplication_token */
    settings: f.insertDeduplicationToken
      ? 'SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 1000'
      : 'SETTINGS index_granularity = 8192',
  };
}

function eventTable(
  f: StoreFeatures,
  name: string,
  columns: string[],
  sortPrefix: string[],
  identity = true,
): string {
  const t = types(f);
  const head = [
    `ts_ns ${t.tsNs}`,
    `time DateTime('UTC')`,
    `host ${t.lc}`,
    `job_id ${t.lc}`,
    `run_id ${t.lc}`,
  ];
  const who = identity
    ? ['pid UInt32', 'uid UInt32', `user ${t.lc}`, `cgroup ${t.lc}`, `comm ${t.lc}`]
    : [];
  const all = [...head, ...who, ...columns, 'weight Float64', 'batch_id UInt64', 'row_idx UInt32'];
  return `CREATE TABLE IF NOT EXISTS ${name} (
  ${all.join(',\n  ')}
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (${[...sortPrefix, 'batch_id', 'row_idx'].join(', ')})
${t.settings}`;
}

/** Written by hand; collector tables after migration 2 are generated. */
export const HAND_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'collector tables, stacks, batches, controller state, sensitive database',
    statements(f) {
      const t = types(f);
      const stack = [
        'stack_id String',
        'user_depth UInt32',
        'truncated UInt8',
        `missing ${t.lc}`,
        'jit_frames UInt32',
      ];
      return [
        'CREATE DATABASE IF NOT EXISTS fleettrace',
        'CREATE DATABASE IF NOT EXISTS fleettrace_sensitive',
        eventTable(
          f,
          'fleettrace.proc',
          [
            'tid UInt32',
            `event ${t.lc}`,
            'ppid UInt32',
            `exe ${t.lc}`,
            'argc UInt32',
            'args_truncated UInt8',
            'redacted UInt32',
            'exit_code Nullable(Int32)',
            'signal UInt32',
            `signal_name ${t.lc}`,
            'core_dumped UInt8',
            'lifetime_ns UInt64',
            'child_pid UInt32',
            'signal_result UInt8',
            'target_pid UInt32',
            'target_tid UInt32',
            'target_uid UInt32',
            `target_user ${t.lc}`,
            `target_comm ${t.lc}`,
            `target_cgroup ${t.lc}`,
            'total_vm_kb UInt64',
            'anon_rss_kb UInt64',
            'file_rss_kb UInt64',
            'shmem_rss_kb UInt64',
            'trigger_pid UInt32',
            `trigger_comm ${t.lc}`,
          ],
          ['event', 'uid', 'host', 'ts_ns'],
        ),
        eventTable(
          f,
          'fleettrace.syscalls',
          [
            'nr UInt32',
            `syscall ${t.lc}`,
            'count UInt64',
            'errors UInt64',
            'total_ns UInt64',
            'hist Array(UInt64)',
            'errno_names Array(String)',
            'errno_counts Array(UInt64)',
          ],
          ['uid', 'syscall', 'host', 'ts_ns'],
        ),
        eventTable(
          f,
          'fleettrace.cpu_profile',
          ['samples UInt64', 'cpu_ns UInt64', ...stack],
          ['uid', 'host', 'ts_ns'],
        ),
        eventTable(
          f,
          'fleettrace.offcpu',
          [`state ${t.lc}`, 'blocks UInt64', 'total_ns UInt64', 'max_ns UInt64', ...stack],
          ['uid', 'state', 'host', 'ts_ns'],
        ),
        eventTable(
          f,
          'fleettrace.syscall_trace',
          [
            'tid UInt32',
            'nr UInt32',
            `syscall ${t.lc}`,
            'ret Int64',
            `errno ${t.lc}`,
            'duration_ns UInt64',
            'has_path UInt8',
          ],
          ['uid', 'host', 'ts_ns'],
        ),
        // Stacks are content-addressed (the id hashes the frames), so a stack
        // collapses on its id alone, whichever batch brought it; monthly
        // partitions let retention drop stacks nobody has seen for long.
        `CREATE TABLE IF NOT EXISTS fleettrace.stacks (
  stack_id String,
  time DateTime('UTC'),
  kernel_frames Array(String),
  user_frames Array(String),
  user_depth UInt32,
  truncated UInt8,
  jit_frames UInt32
) ENGINE = ReplacingMergeTree(time)
PARTITION BY toYYYYMM(time)
ORDER BY stack_id
SETTINGS index_granularity = 8192`,
        // One row per event batch: what arrived from which agent, and what
        // the collectors lost in its interval.
        `CREATE TABLE IF NOT EXISTS fleettrace.batches (
  time DateTime('UTC'),
  created_unix_ms UInt64,
  agent_id ${t.lc},
  host ${t.lc},
  sequence UInt64,
  job_id ${t.lc},
  run_id ${t.lc},
  collector ${t.lc},
  row_count UInt32,
  lost UInt64,
  weight Float64,
  batch_id UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (agent_id, sequence, batch_id)
${t.settings}`,
        // Controller state (SQLite is the source of truth): the latest version
        // of each row wins (FINAL, or argMax(..., version)).
        `CREATE TABLE IF NOT EXISTS fleettrace.jobs (
  job_id String,
  spec_json String,
  state ${t.lc},
  created_by String,
  updated DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY job_id`,
        `CREATE TABLE IF NOT EXISTS fleettrace.job_runs (
  job_id String,
  run_id String,
  agent_id String,
  host ${t.lc},
  state ${t.lc},
  reason String,
  events_sent Int64,
  events_lost Int64,
  overhead_share Float64,
  weight Float64,
  updated DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (job_id, run_id)`,
        `CREATE TABLE IF NOT EXISTS fleettrace.agents (
  agent_id String,
  host ${t.lc},
  state ${t.lc},
  labels_json String,
  kernel String,
  updated DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY agent_id`,
        eventTable(
          f,
          'fleettrace_sensitive.proc_exec',
          ['tid UInt32', 'filename String', 'argv Array(String)', 'args_truncated UInt8'],
          ['uid', 'host', 'ts_ns'],
        ),
        eventTable(
          f,
          'fleettrace_sensitive.syscall_trace_args',
          [
            'tid UInt32',
            'nr UInt32',
            `syscall ${t.lc}`,
            'args Array(UInt64)',
            'path String',
            'path_truncated UInt8',
            'line String',
          ],
          ['uid', 'host', 'ts_ns'],
        ),
      ];
    },
  },
  {
    version: 2,
    name: 'runqlat',
    statements(f) {
      const t = types(f);
      return [
        // Run-queue latency per (uid, cgroup): no pid or comm, it aggregates every task of a user.
        eventTable(
          f,
          'fleettrace.runqlat',
          [
            'uid UInt32',
            `user ${t.lc}`,
            `cgroup ${t.lc}`,
            'count UInt64',
            'total_ns UInt64',
            'max_ns UInt64',
            'hist Array(UInt64)',
          ],
          ['uid', 'host', 'ts_ns'],
          false,
        ),
      ];
    },
  },
  {
    version: 3,
    name: 'job_runs.events_acked',
    statements() {
      // What the bus acknowledged of what the agent sent (RunChanged.events_acked).
      return [`ALTER TABLE fleettrace.job_runs ADD COLUMN events_acked Int64 AFTER events_sent`];
    },
  },
];

/** A generated migration as one the schema manager applies. */
export function fromGenerated(g: GeneratedMigration): Migration {
  return {
    version: g.version,
    name: g.name,
    statements: (f) => g.steps.map((s) => stepSql(s, f)),
  };
}

/** Every migration in version order: hand-written and generated from the manifests. */
export const MIGRATIONS: Migration[] = [
  ...HAND_MIGRATIONS,
  ...GENERATED_MIGRATIONS.map(fromGenerated),
].sort((a, b) => a.version - b.version);

for (let i = 1; i < MIGRATIONS.length; i++)
  if (MIGRATIONS[i]!.version === MIGRATIONS[i - 1]!.version)
    throw new Error(`two migrations have version ${MIGRATIONS[i]!.version}`);
