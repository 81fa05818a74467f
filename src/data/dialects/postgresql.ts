import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { Prisma, PrismaClient } from '../../generated/postgresql/client';
import {
  type AppliedMigration,
  type Dialect,
  type JsonColumnType,
  type MigrationConnection,
  type MigrationFile,
  transactionTimeoutMs,
} from './dialect';
import { escapeLike } from './like-escape';

/**
 * The advisory lock `prisma migrate deploy` takes, so Keyward's migrator and Prisma's never run
 * at the same time either.
 */
const MIGRATION_LOCK_ID = 72707369;

/**
 * How much longer than statement_timeout the client waits for an answer. A slow statement is
 * cancelled by the server first (57014, the connection stays usable); only a network that
 * delivers nothing (a partition, a stalled server) reaches the client-side timeout.
 */
const READ_TIMEOUT_MARGIN_MS = 500;

/** SQL types of jsonRows() columns (constants, never input). */
const PG_JSON_TYPES: Record<JsonColumnType, string> = { text: 'TEXT', integer: 'INTEGER', bigint: 'BIGINT', timestamp: 'TIMESTAMPTZ(3)' };

/** PostgreSQL through node-postgres: the scale-out database. */
export const postgresqlDialect: Dialect = {
  provider: 'postgresql',

  createClient(config, { timeouts, onConnectionError }) {
    const pool = new pg.Pool({
      connectionString: config.url,
      // Opening a connection, or waiting for a free one, fails after this long (never hangs).
      connectionTimeoutMillis: timeouts.connectMs,
      statement_timeout: timeouts.queryMs,
      query_timeout: timeouts.queryMs + READ_TIMEOUT_MARGIN_MS,
      // The server ends a transaction whose client vanished mid-way (a partition), releasing its
      // row locks, once it has been idle longer than any transaction may last.
      idle_in_transaction_session_timeout: transactionTimeoutMs(timeouts),
      // TCP keep-alive probes find a peer that disappeared without closing (failover, partition).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // A connection the server ends (pg_terminate_backend, a failover, a pooler, a restart: 57P01)
    // emits 'error' on its client, whether idle in the pool or checked out between queries, and an
    // 'error' event without a listener ends the process. The pool drops a broken client and opens
    // a new one on next use; these listeners only report.
    pool.on('connect', (client) => client.on('error', onConnectionError));
    // The pool re-emits an idle client's error: the client's own listener has reported it.
    pool.on('error', () => undefined);
    // PrismaPg takes an existing pool when it is an instance of the same `pg` (one copy is installed).
    return new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  },

  async openMigrationConnection(config) {
    const client = new pg.Client({ connectionString: config.url });
    // A connection ended between statements must not end the process: the next statement fails
    // with the reason, and the migration with it.
    client.on('error', () => undefined);
    await client.connect();
    return new PostgresMigrationConnection(client);
  },

  containsText(text) {
    // ILIKE; its default escape character is the backslash escapeLike() uses.
    return { contains: escapeLike(text), mode: 'insensitive' };
  },

  cast(type) {
    return type === 'bigint' ? ['CAST(', ' AS BIGINT)'] : ['CAST(', ' AS TIMESTAMPTZ(3))'];
  },

  jsonRows(rows, types) {
    const json = JSON.stringify(rows.map((row) => row.map((value, i) => (types[i] === 'timestamp' && value !== null ? new Date(value as number).toISOString() : value))));
    const columns = types.map((type, i) => Prisma.raw(`CAST(v->>${i} AS ${PG_JSON_TYPES[type]})`));
    return Prisma.sql`SELECT ${Prisma.join(columns)} FROM jsonb_array_elements(CAST(${json} AS JSONB)) AS v`;
  },

  lockApiKeys(ids) {
    // Two instances flushing overlapping keys take the row locks in the same order: no deadlock.
    // One array parameter, whatever the number of keys: a list of one parameter per key fails past
    // 65,535 (a batch that gathered that many keys during an outage could never be written).
    if (ids.length === 0) return null;
    return Prisma.sql`SELECT "id" FROM "api_keys" WHERE "id" = ANY(${ids}::text[]) ORDER BY "id" FOR UPDATE`;
  },

  async lockKeyChanges(tx) {
    // Sequence values are handed out at insert, not at commit: without this, id 11 could commit
    // before id 10 and a poller past 11 would never see 10. The mode conflicts with itself and
    // with writes (not with reads), and is taken last in a change's transaction, so it is held
    // only for the insert and the commit, and its holder never waits for another lock.
    await tx.$executeRawUnsafe('LOCK TABLE "key_changes" IN SHARE ROW EXCLUSIVE MODE');
  },

  async beginTransaction() {
    // Row locks and the key-changes lock are taken where needed; nothing to do first.
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
