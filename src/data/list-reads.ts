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
import { Worker } from 'node:worker_threads';
import type { DatabaseConfig } from '../config';
import type { Db } from './client-types';
import { databaseUnavailable } from './errors';

/** A value a list query binds: text, a number, or null (times are bound as stored: see `time`). */
export type ReadParam = string | number | null | Date;

/** Runs read-only list statements away from the request path (SQLite) or through the pool. */
export interface ListReads {
  /** Rows of a SELECT written with `?` placeholders. */
  all<T extends Record<string, unknown>>(sql: string, params: readonly ReadParam[]): Promise<T[]>;
  /** A time as this provider compares it in SQL (SQLite: the adapter's ISO 8601 text). */
  time(value: Date): ReadParam;
  close(): Promise<void>;
}

/** The worker: one read-only connection, a small statement cache, one statement at a time. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true, timeout: workerData.busyMs });
// Lists read many index pages at random: a larger page cache, and the file mapped rather than copied.
db.pragma('cache_size = -65536');
db.pragma('mmap_size = 268435456');
const statements = new Map();
parentPort.on('message', ({ id, sql, params }) => {
  try {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
      if (statements.size > 200) statements.delete(statements.keys().next().value);
    }
    parentPort.postMessage({ id, rows: statement.all(...params) });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

interface Pending {
  resolve(rows: Record<string, unknown>[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** A time as @prisma/adapter-better-sqlite3 stores a DateTime (ISO 8601 with +00:00). */
export function sqliteTime(value: Date): string {
  return value.toISOString().replace('Z', '+00:00');
}

class SqliteWorkerReads implements ListReads {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly file: string,
    private readonly queryMs: number,
  ) {}

  time(value: Date): ReadParam {
    return sqliteTime(value);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver: require.resolve('better-sqlite3'), file: this.file, busyMs: this.queryMs },
    });
    worker.unref();
    worker.on('message', (message: { id: number; rows?: Record<string, unknown>[]; error?: { message: string; code?: string } }) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.error) {
        const error = Object.assign(new Error(message.error.message), { code: message.error.code });
        pending.reject(message.error.code === 'SQLITE_BUSY' ? databaseUnavailable(error) : error);
      } else pending.resolve(message.rows ?? []);
    });
    // A worker that dies (or is ended after a timeout) fails what it had and is replaced on next use.
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const [id, pending] of this.pending) {
        clearTimeout(pending.timer);
        pending.reject(error);
        this.pending.delete(id);
      }
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(databaseUnavailable(new Error('the list reader stopped'))));
    this.worker = worker;
    return worker;
  }

  all<T extends Record<string, unknown>>(sql: string, params: readonly ReadParam[]): Promise<T[]> {
    const worker = this.start();
    const id = this.nextId++;
    const bound = params.map((p) => (p instanceof Date ? sqliteTime(p) : p));
    return new Promise<T[]>((resolve, reject) => {
      // A statement past the query timeout ends the worker (better-sqlite3 cannot interrupt one).
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        void worker.terminate();
      }, this.queryMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as Pending['resolve'], reject, timer });
      worker.postMessage({ id, sql, params: bound });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}

/** `?` placeholders as `$1, $2, ...` (list SQL never has `?` inside a literal). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

class PrismaReads implements ListReads {
  constructor(private readonly prisma: Db) {}

  time(value: Date): ReadParam {
    return value;
  }

  async all<T extends Record<string, unknown>>(sql: string, params: readonly ReadParam[]): Promise<T[]> {
    return this.prisma.$queryRawUnsafe<T[]>(numbered(sql), ...params);
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
