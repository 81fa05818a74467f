import type { DatabaseConfig, DatabaseProvider } from '../config';
import { ThrottledLog } from '../lib/throttled-log';
import type { Logger } from '../logger';
import type { Db, Prisma, Tx } from './client-types';
import { dialectFor } from './dialects';
import { type DatabaseTimeouts, type Dialect, transactionTimeoutMs } from './dialects/dialect';
import { databaseUnavailableReason } from './errors';
import { createListReads, type ListReads } from './list-reads';
import { SqliteThread, type StatementCpu, type ThreadHeap } from './sqlite-thread';
import type { WritePlan } from './write-plan';

/** The app's handle on its database: the Prisma client plus provider-specific strategies. */
export interface Database {
  readonly provider: DatabaseProvider;
  readonly prisma: Db;
  /** A case-insensitive substring filter for this provider. */
  containsText(text: string): Prisma.StringFilter;
  /** Provider-specific pieces of raw SQL (see dialects/dialect.ts). */
  readonly sql: Pick<Dialect, 'cast' | 'jsonRows' | 'lockApiKeys' | 'lockKeyChanges'>;
  /**
   * Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws.
   * It waits about `connectMs` for a connection and may last 2 x `queryMs` (then it fails).
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Where list and report reads run: off the app's thread on SQLite (see list-reads.ts). */
  readonly reads: ListReads;
  /**
   * Runs a planned write in one transaction: on SQLite on a writer thread of its own, so it never
   * holds the event loop (see write-plan.ts); elsewhere through the client, like transaction().
   * The plan's readers get their rows once it has committed.
   */
  write(plan: WritePlan): Promise<void>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /**
   * The JS heap of each worker thread with a connection, by its name (SQLite; none elsewhere): the
   * process's own heap figures leave them out. A thread not started yet is not started for it.
   */
  threadHeaps(): Promise<Record<string, ThreadHeap>>;
  /**
   * The CPU time (µs) of each running worker thread with a connection whose time can be read
   * (Linux), by its name: what the process's CPU time holds of theirs.
   */
  threadCpu(): Record<string, number>;
  /**
   * With DatabaseOptions.statementCpu on SQLite: the usage writer thread's CPU time in each
   * statement since the last call, largest first (see SqliteThread.statementCpu); else empty.
   */
  writerStatementCpu(): Promise<StatementCpu[]>;
  close(): Promise<void>;
}

/** The SQLite usage writer thread's name (threadHeaps(), threadCpu()). */
export const USAGE_WRITER = 'usage writer';

/** How long to wait for the database, and where to report failures. */
export interface DatabaseOptions {
  /** config.databaseTimeouts: every wait for the database ends (and answers 503) after these. */
  timeouts: DatabaseTimeouts;
  /** Where connections that fail outside any request are reported, throttled. */
  logger?: Logger;
  /** SQLite: count the usage writer's CPU time per statement (writerStatementCpu; for the benchmark). */
  statementCpu?: boolean;
}

/**
 * A transaction's wait for a connection outlasts the driver's own connect timeout a little, so
 * the driver's error (which says why) is the one that surfaces.
 */
const MAX_WAIT_MARGIN_MS = 500;

/** Opens the database named by the configuration (migrations are applied separately). */
export function openDatabase(config: DatabaseConfig, options: DatabaseOptions): Database {
  const { timeouts } = options;
  const dialect = dialectFor(config.provider);
  const failures = options.logger ? new ThrottledLog(options.logger) : null;
  const prisma = dialect.createClient(config, {
    timeouts,
    // A connection ended while no query waited on it (a failover, a restart): the next query opens
    // a new one. One line per kind and interval; the reason only, never the connection string.
    onConnectionError: (error) => {
      const reason = databaseUnavailableReason(error) ?? (error as { code?: string }).code ?? 'connection error';
      failures?.warn(`database-connection:${reason}`, undefined, 'a database connection failed; it is replaced on next use', { reason });
    },
  });
  const reads = createListReads(config, prisma, timeouts.queryMs);
  const transaction: Database['transaction'] = (fn) =>
    prisma.$transaction(
      async (tx) => {
        await dialect.beginTransaction(tx);
        return fn(tx);
      },
      { maxWait: timeouts.connectMs + MAX_WAIT_MARGIN_MS, timeout: transactionTimeoutMs(timeouts) },
    );
  // SQLite: a read-write connection on a worker thread. A write waits for another connection's
  // write lock (the app's own, the CLI's) like any statement; it is never ended from outside (a
  // write that may have committed must not be reported failed and written again).
  const writer =
    config.provider === 'sqlite' && config.sqlitePath
      ? new SqliteThread({ file: config.sqlitePath, readonly: false, busyMs: timeouts.queryMs, name: USAGE_WRITER, statementCpu: options.statementCpu })
      : null;
  return {
    provider: config.provider,
    prisma,
    reads,
    containsText: (text) => dialect.containsText(text),
    sql: { cast: dialect.cast, jsonRows: dialect.jsonRows, lockApiKeys: dialect.lockApiKeys, lockKeyChanges: dialect.lockKeyChanges },
    transaction,
    write: async (plan) => {
      if (plan.size === 0) return;
      const results = writer ? await writer.transaction(plan.forSqliteThread()) : await transaction((tx) => plan.runWith(tx));
      plan.deliver(results);
    },
    ping: async () => {
      await prisma.$queryRawUnsafe('SELECT 1');
    },
    threadHeaps: async () => {
      const heaps: Record<string, ThreadHeap> = {};
      for (const thread of [writer, reads.thread]) {
        const heap = await thread?.heapIfStarted();
        if (thread && heap) heaps[thread.name] = heap;
      }
      return heaps;
    },
    threadCpu: () => {
      const cpu: Record<string, number> = {};
      for (const thread of [writer, reads.thread]) {
        const micros = thread?.cpuMicros() ?? null;
        if (thread && micros !== null) cpu[thread.name] = micros;
      }
      return cpu;
    },
    writerStatementCpu: async () => (writer ? writer.statementCpu() : []),
    close: async () => {
      await reads.close();
      await writer?.close();
      await prisma.$disconnect();
    },
  };
}
