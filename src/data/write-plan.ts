/**
 * A write decided before it runs: the statements of one transaction, built from what is to be
 * written without reading anything in between, and the readers of the rows some of them return
 * (RETURNING), told after the commit. Because nothing in it waits on the app, a plan can run
 * anywhere: on SQLite it runs whole on a writer thread (see sqlite-writer.ts), so the usage batch,
 * the heaviest recurring write, never holds the event loop; elsewhere it runs through the client.
 */
import type { Prisma, Tx } from './client-types';
import type { BoundValue, ThreadStatement } from './sqlite-thread';
import { sqliteTime } from './list-reads';

interface PlannedStatement {
  sql: Prisma.Sql;
  /** Receives the statement's rows after the commit; null for a statement whose rows are not read. */
  read: ((rows: Record<string, unknown>[]) => void) | null;
}

/** Rows written one statement per row on a SQLite thread, and by multi-row statements elsewhere. */
interface PlannedRows {
  /** One row's statement, with a `?` for each value of a row in order. */
  single: string;
  rows: readonly (readonly unknown[])[];
  /** The same rows as multi-row statements (built only where they run). */
  chunked: () => Prisma.Sql[];
}

export class WritePlan {
  private readonly statements: (PlannedStatement | PlannedRows)[] = [];

  /** A statement whose rows are not read. */
  execute(sql: Prisma.Sql): void {
    this.statements.push({ sql, read: null });
  }

  /** A statement whose rows `read` receives once the transaction has committed. */
  query<T extends Record<string, unknown>>(sql: Prisma.Sql, read: (rows: T[]) => void): void {
    this.statements.push({ sql, read: read as PlannedStatement['read'] });
  }

  /**
   * Inserts `rows`: on a SQLite thread by running `single` (one row's statement) once per row, a
   * prepared statement that is cheaper there than a multi-row one (a request-log row cost about
   * 15 µs through a JSON row source, 7 µs this way); elsewhere by the statements `chunked` builds
   * (one round trip per chunk on PostgreSQL). Both must write the same rows the same way.
   */
  executeRows(single: string, rows: readonly (readonly unknown[])[], chunked: () => Prisma.Sql[]): void {
    if (rows.length > 0) this.statements.push({ single, rows, chunked });
  }

  get size(): number {
    return this.statements.length;
  }

  /** Runs the statements with a transaction's client; the rows of those read (for deliver()). */
  async runWith(tx: Tx): Promise<Record<string, unknown>[][]> {
    const results: Record<string, unknown>[][] = [];
    for (const statement of this.statements) {
      if (isRows(statement)) for (const sql of statement.chunked()) await tx.$executeRaw(sql);
      else if (statement.read) results.push(await tx.$queryRaw<Record<string, unknown>[]>(statement.sql));
      else await tx.$executeRaw(statement.sql);
    }
    return results;
  }

  /** The statements as a SQLite thread runs them, with values bound as the Prisma adapter binds them. */
  forSqliteThread(): ThreadStatement[] {
    // A batch binds the same few times (its buckets) thousands of times: each is formatted once.
    const times = new Map<number, string>();
    const bind = (value: unknown): BoundValue => {
      if (!(value instanceof Date)) return sqliteValue(value);
      const ms = value.getTime();
      let text = times.get(ms);
      if (text === undefined) {
        text = sqliteTime(value);
        times.set(ms, text);
      }
      return text;
    };
    return this.statements.map((statement) =>
      isRows(statement)
        ? { sql: statement.single, params: [], rows: false, each: statement.rows.map((row) => row.map(bind)) }
        : { sql: statement.sql.sql, params: statement.sql.values.map(bind), rows: statement.read !== null },
    );
  }

  /**
   * After the commit: hands each reading statement its rows, in plan order (`results` may hold a
   * null for each statement not read).
   */
  deliver(results: (Record<string, unknown>[] | null)[]): void {
    const rows = results.filter((r): r is Record<string, unknown>[] => r !== null);
    let next = 0;
    for (const statement of this.statements) if (!isRows(statement) && statement.read) statement.read(rows[next++] ?? []);
  }
}

function isRows(statement: PlannedStatement | PlannedRows): statement is PlannedRows {
  return (statement as PlannedRows).single !== undefined;
}

/** A value as @prisma/adapter-better-sqlite3 binds it (times as ISO 8601 with +00:00, booleans as 0/1). */
function sqliteValue(value: unknown): BoundValue {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return sqliteTime(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || Buffer.isBuffer(value)) return value;
  throw new TypeError(`a value of type ${typeof value} cannot be bound`);
}
