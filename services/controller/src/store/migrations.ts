// SPDX-License-Identifier: Apache-2.0
/**
 * The controller's schema, as numbered migrations applied in order, each in
 * one transaction, recorded in schema_migrations. Released migrations are
 * never edited: a change is a new migration at the end.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'agents, certificates, revocations, tokens, jobs, runs, schedules, audit',
    sql: `
      CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        kernel TEXT NOT NULL DEFAULT '',
        features TEXT NOT NULL DEFAULT '[]',
        missing_features TEXT NOT NULL DEFAULT '{}',
        collectors TEXT NOT NULL DEFAULT '[]',
        cpus INTEGER NOT NULL DEFAULT 0,
        agent_version TEXT NOT NULL DEFAULT '',
        -- enrolled | connected | disconnected | lost | revoked
        state TEXT NOT NULL,
        state_reason TEXT NOT NULL DEFAULT '',
        enrolled_ms INTEGER NOT NULL,
        connected_ms INTEGER,
        last_heartbeat_ms INTEGER,
        overhead_share REAL NOT NULL DEFAULT 0,
        cert_serial TEXT,
        cert_not_after_ms INTEGER,
        revoked_ms INTEGER
      );
      CREATE INDEX agents_hostname ON agents(hostname);

      CREATE TABLE certificates (
        serial TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL REFERENCES agents(id),
        issued_ms INTEGER NOT NULL,
        not_after_ms INTEGER NOT NULL
      );
      CREATE INDEX certificates_agent ON certificates(agent_id);

      CREATE TABLE revocations (
        serial TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        revoked_ms INTEGER NOT NULL,
        reason TEXT NOT NULL
      );

      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        expires_ms INTEGER,
        revoked_ms INTEGER,
        last_used_ms INTEGER
      );

      CREATE TABLE bootstrap_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        revoked_ms INTEGER
      );

      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        -- running | finished | cancelled
        state TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        schedule_id TEXT,
        weight REAL NOT NULL DEFAULT 1,
        cancelled_ms INTEGER,
        cancel_reason TEXT,
        updated_ms INTEGER NOT NULL
      );
      CREATE INDEX jobs_state ON jobs(state, end_ms);

      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs(id),
        agent_id TEXT NOT NULL REFERENCES agents(id),
        host TEXT NOT NULL,
        -- pending | running | finished | failed | throttled | cancelled | lost
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        events_sent INTEGER NOT NULL DEFAULT 0,
        events_lost INTEGER NOT NULL DEFAULT 0,
        overhead_share REAL NOT NULL DEFAULT 0,
        weight REAL NOT NULL DEFAULT 1,
        created_ms INTEGER NOT NULL,
        dispatched_ms INTEGER,
        acked_ms INTEGER,
        ended_ms INTEGER,
        updated_ms INTEGER NOT NULL,
        UNIQUE (job_id, agent_id)
      );
      CREATE INDEX runs_agent ON runs(agent_id, state);

      CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        every_ms INTEGER NOT NULL,
        run_for_ms INTEGER NOT NULL,
        sample REAL NOT NULL,
        created_by TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        next_run_ms INTEGER NOT NULL,
        last_job_id TEXT,
        deleted_ms INTEGER
      );

      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}',
        source TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX audit_ts ON audit(ts_ms);
    `,
  },
  {
    version: 2,
    description:
      'audit outcomes and aggregated denials; schedules remember their creator token and can be paused',
    sql: `
      -- ok | denied | refused | error | pending (a query still running)
      ALTER TABLE audit ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok';
      -- denied attempts are aggregated per (source, reason) and minute: how many this row stands for
      ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
      CREATE INDEX audit_action_ts ON audit(action, ts_ms);

      ALTER TABLE schedules ADD COLUMN owner_token_id TEXT;
      ALTER TABLE schedules ADD COLUMN paused_ms INTEGER;
      ALTER TABLE schedules ADD COLUMN paused_reason TEXT;
      -- created_by was written as "<name> (<token id>)"
      UPDATE schedules SET owner_token_id = substr(created_by, -13, 12) WHERE created_by LIKE '% (____________)';
    `,
  },
  {
    version: 3,
    description: 'runs count what the bus acknowledged, apart from what the agent sent',
    sql: `
      ALTER TABLE runs ADD COLUMN events_acked INTEGER NOT NULL DEFAULT 0;
    `,
  },
];
