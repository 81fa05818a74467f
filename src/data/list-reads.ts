/**
 * Where the list and report reads run (key lists, counts, the audit log): raw SQL with `?`
 * placeholders, answered as plain rows.
 *
 * On SQLite, better-sqlite3 runs every statement on the thread that calls it: a 50 ms count on
 * the app's thread is 50 ms during which no /api request is served. These reads therefore run in
 * a worker thread with its own read-only connection to the same WAL file (WAL readers never block
 * the app's writer, nor it them), so a dashboard page never stalls the API. The app's thread then
 * reads only the page's rows by primary key. On PostgreSQL a statement does not hold the event
 * loop: the reads go through the app's client (its pool and timeouts) with `$n` placeholders.
 */
import type { DatabaseConfig } from '../config';
import type { Db } from './client-types';
import { SqliteThread } from './sqlite-thread';

/** A value a list query binds: text, a number, or null (times are bound as stored: see `time`). */
export type ReadParam = string | number | null | Date;

/** Runs read-only list statements away from the request path (SQLite) or through the pool. */
export interface ListReads {
  /** Rows of a SELECT written with `?` placeholders. */
  all<T extends Record<string, unknown>>(sql: string, params: readonly ReadParam[]): Promise<T[]>;
  /**
   * The texts of a SELECT of one text column (never null), joined by `separator` in the rows' order (for reports
   * whose rows the database writes as text: on SQLite one string leaves the worker thread).
   */
  joined(sql: string, params: readonly ReadParam[], separator: string): Promise<string>;
  /** A time as this provider compares it in SQL (SQLite: the adapter's ISO 8601 text). */
  time(value: Date): ReadParam;
  /** The worker thread the reads run on (SQLite), for its heap figures; null elsewhere. */
  readonly thread: SqliteThread | null;
  close(): Promise<void>;
}

/** A time as @prisma/adapter-better-sqlite3 stores a DateTime (ISO 8601 with +00:00). */
export function sqliteTime(value: Date): string {
  return value.toISOString().replace('Z', '+00:00');
}

/** Values as the worker binds them (times as stored). */
function bound(params: readonly ReadParam[]): (string | number | null)[] {
  return params.map((p) => (p instanceof Date ? sqliteTime(p) : p));
}

/** Reads on a worker thread with a read-only connection (see sqlite-thread.ts). */
class SqliteWorkerReads implements ListReads {
  readonly thread: SqliteThread;

  constructor(file: string, queryMs: number) {
    this.thread = new SqliteThread({
      file,
      readonly: true,
      busyMs: queryMs,
      // Lists read many index pages at random: a larger page cache, and the file mapped rather than copied.
      pragmas: ['cache_size = -65536', 'mmap_size = 268435456'],
      stopAfterMs: queryMs,
      name: 'list reader',
    });
  }

  time(value: Date): ReadParam {
    return sqliteTime(value);
  }

  all<T extends Record<string, unknown>>(sql: string, params: readonly ReadParam[]): Promise<T[]> {
    return this.thread.all<T>(sql, bound(params));
  }

  joined(sql: string, params: readonly ReadParam[], separator: string): Promise<string> {
    return this.thread.joined(sql, bound(params), separator);
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}

/** `?` placeholders as `$1, $2, ...` (list SQL never has `?` inside a literal). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

class PrismaReads implements ListReads {
  readonly thread = null;

  constructor(private readonly prisma: Db) {}

  time(value: Date): ReadParam {
    return value;
  }

  async all<T extends Record<string, unknown>>(sql: string, params: readonly ReadParam[]): Promise<T[]> {
    return this.prisma.$queryRawUnsafe<T[]>(numbered(sql), ...params);
  }

  async joined(sql: string, params: readonly ReadParam[], separator: string): Promise<string> {
    const rows = await this.all<Record<string, unknown>>(sql, params);
    return rows.map((row) => String(Object.values(row)[0])).join(separator);
  }

  async close(): Promise<void> {
    // The client is closed with the database.
  }
}

/** The list reader of a database. */
export function createListReads(config: DatabaseConfig, prisma: Db, queryMs: number): ListReads {
  if (config.provider === 'sqlite' && config.sqlitePath) return new SqliteWorkerReads(config.sqlitePath, queryMs);
  return new PrismaReads(prisma);
}
