import type { DatabaseConfig, DatabaseProvider } from '../../config';
import type { Db, Prisma, Tx } from '../client-types';
import type { ColumnCast } from '../repositories/batching';

/** A row of Prisma's `_prisma_migrations` bookkeeping table. */
export interface AppliedMigration {
  name: string;
  checksum: string;
  finishedAt: Date | null;
  rolledBackAt: Date | null;
}

/** How jsonRows() reads each value of a row. Timestamps are given as ms since the epoch. */
export type JsonColumnType = 'text' | 'integer' | 'bigint' | 'timestamp';

/** A pending migration read from prisma/<provider>/migrations/<name>/migration.sql. */
export interface MigrationFile {
  name: string;
  sql: string;
  /** SHA-256 (hex) of the file, as `prisma migrate deploy` computes it. */
  checksum: string;
}

/** A direct driver connection used to apply migrations (Prisma's migrate engine is not used). */
export interface MigrationConnection {
  /** Runs `fn` while holding a lock that keeps other processes from migrating at the same time. */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  ensureBookkeepingTable(): Promise<void>;
  appliedMigrations(): Promise<AppliedMigration[]>;
  /**
   * Applies one migration and records it, in one transaction. Returns false when another process
   * applied it first.
   */
  apply(migration: MigrationFile): Promise<boolean>;
  close(): Promise<void>;
}

/** How long the app waits for its database (DATABASE_CONNECT_TIMEOUT_MS, DATABASE_QUERY_TIMEOUT_MS). */
export interface DatabaseTimeouts {
  /** Getting a connection: opening one, or waiting for a free one in the pool. */
  connectMs: number;
  /** One statement, or SQLite's wait for another connection's lock. */
  queryMs: number;
}

/**
 * The longest an interactive transaction may run: it holds a connection (and locks) for a few
 * statements, each bounded by queryMs.
 */
export function transactionTimeoutMs(timeouts: DatabaseTimeouts): number {
  return 2 * timeouts.queryMs;
}

/** What a dialect's app client needs besides the URL. */
export interface ClientOptions {
  timeouts: DatabaseTimeouts;
  /**
   * Told about connection failures no query is waiting for (a server ending an idle connection):
   * such a failure must never become an unhandled 'error' event, which would end the process.
   */
  onConnectionError(error: Error): void;
}

/** Everything that differs between SQLite and PostgreSQL, chosen once in src/data/database.ts. */
export interface Dialect {
  readonly provider: DatabaseProvider;
  createClient(config: DatabaseConfig, options: ClientOptions): Db;
  openMigrationConnection(config: DatabaseConfig): Promise<MigrationConnection>;
  /** A case-insensitive substring filter matching `text` literally (`%`, `_`, `\` are plain characters). */
  containsText(text: string): Prisma.StringFilter;
  /**
   * How a parameter gets the SQL type a raw statement needs where the type cannot be inferred (a
   * VALUES list): PostgreSQL needs a cast around it, SQLite's dynamic typing takes it as is (null).
   */
  cast(type: 'bigint' | 'timestamp'): ColumnCast;
  /**
   * A row source for `INSERT INTO t (columns) <jsonRows>`: SELECTs `rows` (each an array of values
   * in `types` order) from one JSON parameter. Inserting many rows this way costs one parameter
   * instead of one per value: through Prisma's raw queries each parameter costs CPU, and rows of
   * the request log have 13 (measured: app CPU per 1,000 rows about 5x lower on PostgreSQL, a
   * third lower on SQLite). Row order is not promised: use it where no row locks are taken.
   */
  jsonRows(rows: unknown[][], types: readonly JsonColumnType[]): Prisma.Sql;
  /**
   * The statement that locks api_keys rows in id order for the rest of its transaction; null
   * where the database locks whole files.
   */
  lockApiKeys(ids: string[]): Prisma.Sql | null;
  /**
   * Makes key_changes ids become visible in id order: held from just before a change record is
   * inserted until its transaction ends, so a poller that has seen id N can never later find a
   * smaller id committed (see src/keys/key-change-feed.ts). No-op where one writer holds the
   * whole database anyway.
   */
  lockKeyChanges(tx: Tx): Promise<void>;
  /**
   * Runs first in every transaction. On SQLite it takes the database's write lock at once: a
   * transaction that read first and wrote later could find that another process (the CLI, another
   * app) committed in between, and SQLite then refuses its write at once (a stale WAL snapshot)
   * instead of waiting for the lock. Every transaction here writes, so nothing is lost by it.
   */
  beginTransaction(tx: Tx): Promise<void>;
}
