// SPDX-License-Identifier: Apache-2.0
/**
 * SQLite (better-sqlite3) in <data>/controller.db: the source of truth for
 * agents, tokens, jobs, runs, schedules and audit. Synchronous by design:
 * every statement runs on the main thread and is short (indexed lookups and
 * small writes), which keeps the dispatch logic free of interleavings; bulk
 * writes go through `transaction`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import Database from 'better-sqlite3';
import { CONFIG, LOGGER, type ResolvedConfig } from '../config/controller-config.js';
import type { JsonLogger } from '@fleettrace/common';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Statement = Database.Statement;

@Injectable()
export class StoreService implements OnApplicationShutdown {
  readonly db: Database.Database;
  private readonly statements = new Map<string, Statement>();

  constructor(@Inject(CONFIG) config: ResolvedConfig, @Inject(LOGGER) logger: JsonLogger) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const path = join(config.dataDir, 'controller.db');
    this.db = new Database(path);
    // WAL: readers (API) never wait for the writer; NORMAL sync is durable across
    // a process crash, and loses at most the last commits on a power loss.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    const applied = migrate(this.db, MIGRATIONS);
    logger.child({ component: 'store' }).info('database open', {
      path,
      applied_migrations: applied,
      version: schemaVersion(this.db),
    });
  }

  /** A cached prepared statement. */
  stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  onApplicationShutdown(): void {
    if (this.db.open) this.db.close();
  }
}

export function schemaVersion(db: Database.Database): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as {
    v: number | null;
  };
  return row.v ?? 0;
}

/** Applies the migrations not yet recorded; returns their versions. Refuses a newer database. */
export function migrate(db: Database.Database, migrations: Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_ms INTEGER NOT NULL)`);
  const current = schemaVersion(db);
  const latest = Math.max(0, ...migrations.map((m) => m.version));
  if (current > latest) {
    throw new Error(
      `controller.db has schema version ${current}, newer than this controller knows (${latest}): ` +
        'run the newer controller or restore a backup',
    );
  }
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(
        m.version,
        m.description,
        Date.now(),
      );
    })();
    applied.push(m.version);
  }
  return applied;
}
