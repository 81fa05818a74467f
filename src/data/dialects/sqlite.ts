import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import BetterSqlite3 from 'better-sqlite3';
import { Prisma, PrismaClient } from '../../generated/sqlite/client';
import type { DatabaseConfig } from '../../config';
import type { Db } from '../client-types';
import type { AppliedMigration, Dialect, MigrationConnection, MigrationFile } from './dialect';
import { escapeLike, likeEscapingAdapter } from './like-escape';
import { sqliteTime } from '../list-reads';

/** How long the migration connection waits for another process's write lock before failing. */
const BUSY_TIMEOUT_MS = 5000;

function sqlitePath(config: DatabaseConfig): string {
  if (!config.sqlitePath) throw new Error('SQLite configuration without a file path');
  return config.sqlitePath;
}

/**
 * Creates the database file owner-only (0600), in a folder made owner-only (0700) when Keyward
 * creates it: the file holds key hashes, password hashes and sessions. SQLite gives its -wal and
 * -shm files the database file's mode. An existing file or folder keeps the mode it has.
 */
function createOwnerOnly(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
}

/** SQLite through better-sqlite3: the embedded default. */
export const sqliteDialect: Dialect = {
  provider: 'sqlite',

  createClient(config, { timeouts }) {
    createOwnerOnly(sqlitePath(config));
    // The app waits for another process's write lock as long as for any statement; past that,
    // SQLITE_BUSY answers 503 database_unavailable (see src/data/errors.ts).
    const adapter = likeEscapingAdapter(new PrismaBetterSqlite3({ url: sqlitePath(config), timeout: timeouts.queryMs }));
    // The SQLite client has the same model API as the PostgreSQL one the data layer is typed with.
    return new PrismaClient({ adapter }) as unknown as Db;
  },

  async openMigrationConnection(config) {
    const file = sqlitePath(config);
    createOwnerOnly(file);
    const db = new BetterSqlite3(file, { timeout: BUSY_TIMEOUT_MS });
    // WAL lets the dashboard read while usage batches are written; the setting is kept in the file.
    db.pragma('journal_mode = WAL');
    return new SqliteMigrationConnection(db);
  },

  containsText(text) {
    // SQLite's LIKE is case-insensitive for ASCII already; the client's LIKE escapes with `\`.
    return { contains: escapeLike(text) };
  },

  cast() {
    return null;
  },

  jsonRows(rows, types) {
    // Timestamps as the client's adapter stores them (its default `timestampFormat`, iso8601 with
    // +00:00), so they compare as text with every other stored time.
    const json = JSON.stringify(rows.map((row) => row.map((value, i) => (types[i] === 'timestamp' && value !== null ? sqliteTime(new Date(value as number)) : value))));
    const columns = types.map((_, i) => Prisma.raw(`v.value->>${i}`));
    return Prisma.sql`SELECT ${Prisma.join(columns)} FROM json_each(${json}) AS v`;
  },

  lockApiKeys() {
    // A write transaction holds SQLite's database lock already.
    return null;
  },

  async lockKeyChanges() {
    // Same: writers are serialised by the database lock, so ids commit in order.
  },

  async beginTransaction(tx) {
    // A write that changes nothing still takes the write lock (waiting for it up to the busy timeout).
    await tx.$executeRawUnsafe('UPDATE "key_changes" SET "id" = "id" WHERE 0');
  },
};

class SqliteMigrationConnection implements MigrationConnection {
  constructor(private readonly db: BetterSqlite3.Database) {}

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    // Each migration runs in BEGIN IMMEDIATE, which takes SQLite's write lock; apply() re-checks
    // inside that transaction, so concurrent starters cannot apply a migration twice.
    return fn();
  }

  async ensureBookkeepingTable(): Promise<void> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`);
  }

  async appliedMigrations(): Promise<AppliedMigration[]> {
    const rows = this.db
      .prepare('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at, migration_name')
      .all() as { migration_name: string; checksum: string; finished_at: unknown; rolled_back_at: unknown }[];
    return rows.map((row) => ({
      name: row.migration_name,
      checksum: row.checksum,
      finishedAt: toDate(row.finished_at),
      rolledBackAt: toDate(row.rolled_back_at),
    }));
  }

  async apply(migration: MigrationFile): Promise<boolean> {
    const db = this.db;
    db.exec('BEGIN IMMEDIATE');
    try {
      const done = db
        .prepare('SELECT 1 FROM "_prisma_migrations" WHERE migration_name = ? AND finished_at IS NOT NULL AND rolled_back_at IS NULL')
        .get(migration.name);
      if (!done) {
        const startedAt = Date.now();
        db.exec(migration.sql);
        // Prisma's SQLite engine stores these timestamps as Unix milliseconds.
        db.prepare(
          'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)',
        ).run(randomUUID(), migration.checksum, Date.now(), migration.name, startedAt);
      }
      db.exec('COMMIT');
      return !done;
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value));
  return new Date(String(value));
}
