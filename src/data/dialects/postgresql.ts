import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { Prisma, PrismaClient } from '../../generated/postgresql/client';
import type { AppliedMigration, Dialect, MigrationConnection, MigrationFile } from './dialect';

/**
 * The advisory lock `prisma migrate deploy` takes, so Keyward's migrator and Prisma's never run
 * at the same time either.
 */
const MIGRATION_LOCK_ID = 72707369;

/** PostgreSQL through node-postgres: the scale-out database. */
export const postgresqlDialect: Dialect = {
  provider: 'postgresql',

  createClient(config) {
    return new PrismaClient({ adapter: new PrismaPg({ connectionString: config.url }) });
  },

  async openMigrationConnection(config) {
    const client = new pg.Client({ connectionString: config.url });
    await client.connect();
    return new PostgresMigrationConnection(client);
  },

  containsText(text) {
    return { contains: text, mode: 'insensitive' };
  },

  typed(value, type) {
    return type === 'bigint' ? Prisma.sql`CAST(${value} AS BIGINT)` : Prisma.sql`CAST(${value} AS TIMESTAMPTZ(3))`;
  },

  async lockApiKeys(tx, ids) {
    // Two instances flushing overlapping keys take the row locks in the same order: no deadlock.
    if (ids.length === 0) return;
    await tx.$queryRaw`SELECT "id" FROM "api_keys" WHERE "id" IN (${Prisma.join(ids)}) ORDER BY "id" FOR UPDATE`;
  },
};

class PostgresMigrationConnection implements MigrationConnection {
  constructor(private readonly client: pg.Client) {}

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await this.client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      return await fn();
    } finally {
      await this.client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  }

  async ensureBookkeepingTable(): Promise<void> {
    await this.client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`);
  }

  async appliedMigrations(): Promise<AppliedMigration[]> {
    const { rows } = await this.client.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
    }>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at, migration_name');
    return rows.map((row) => ({
      name: row.migration_name,
      checksum: row.checksum,
      finishedAt: row.finished_at,
      rolledBackAt: row.rolled_back_at,
    }));
  }

  async apply(migration: MigrationFile): Promise<boolean> {
    const client = this.client;
    await client.query('BEGIN');
    try {
      const startedAt = new Date();
      // A migration file may hold many statements: the simple query protocol runs them all.
      await client.query(migration.sql);
      await client.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)',
        [randomUUID(), migration.checksum, migration.name, startedAt],
      );
      await client.query('COMMIT');
      return true;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
