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

export class WritePlan {
  private readonly statements: PlannedStatement[] = [];

  /** A statement whose rows are not read. */
  execute(sql: Prisma.Sql): void {
    this.statements.push({ sql, read: null });
  }

  /** A statement whose rows `read` receives once the transaction has committed. */
  query<T extends Record<string, unknown>>(sql: Prisma.Sql, read: (rows: T[]) => void): void {
    this.statements.push({ sql, read: read as PlannedStatement['read'] });
  }

  get size(): number {
    return this.statements.length;
  }

  /** Runs the statements with a transaction's client; the rows of those read (for deliver()). */
  async runWith(tx: Tx): Promise<Record<string, unknown>[][]> {
    const results: Record<string, unknown>[][] = [];
    for (const statement of this.statements) {
      if (statement.read) results.push(await tx.$queryRaw<Record<string, unknown>[]>(statement.sql));
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
    return this.statements.map((statement) => ({
      sql: statement.sql.sql,
      params: statement.sql.values.map(bind),
      rows: statement.read !== null,
    }));
  }

  /**
   * After the commit: hands each reading statement its rows, in plan order (`results` may hold a
   * null for each statement not read).
   */
  deliver(results: (Record<string, unknown>[] | null)[]): void {
    const rows = results.filter((r): r is Record<string, unknown>[] => r !== null);
    let next = 0;
    for (const statement of this.statements) if (statement.read) statement.read(rows[next++] ?? []);
  }
}

/** A value as @prisma/adapter-better-sqlite3 binds it (times as ISO 8601 with +00:00, booleans as 0/1). */
function sqliteValue(value: unknown): BoundValue {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return sqliteTime(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || Buffer.isBuffer(value)) return value;
  throw new TypeError(`a value of type ${typeof value} cannot be bound`);
}
