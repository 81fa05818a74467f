/**
 * A write decided before it runs: the statements of one transaction, built from what is to be
 * written without reading anything in between, and the readers of the rows some of them return
 * (RETURNING), told after the commit. Because nothing in it waits on the app, a plan can run
 * anywhere: on SQLite it runs whole on a writer thread (see sqlite-thread.ts), so the usage batch,
 * the heaviest recurring write, never holds the event loop; elsewhere it runs through the client.
 */
import type { Prisma, Tx } from './client-types';
import type { BoundValue, ThreadStatement } from './sqlite-thread';
import { UNEXPECTED_CHANGES } from './errors';
import { sqliteTime } from './list-reads';
import { CHUNK, type ColumnCast, sqlRows } from './repositories/batching';

interface PlannedStatement {
  sql: Prisma.Sql;
  /** Receives the statement's rows after the commit; null for a statement whose rows are not read. */
  read: ((rows: Record<string, unknown>[]) => void) | null;
  /** The number of rows the statement must change, else the transaction rolls back (executeExpecting). */
  expect?: number;
}

/** Rows per part of a statement sent to a SQLite thread (see forSqliteThread). */
const THREAD_CHUNK = 1000;

function unexpectedChanges(expected: number, changed: number): Error {
  return Object.assign(new Error(`a statement changed ${changed} rows where ${expected} were expected; the transaction was rolled back`), { code: UNEXPECTED_CHANGES });
}

/** A planned statement's rows of values, made from its items a part at a time (see executeRows). */
interface RowList {
  readonly length: number;
  slice(start: number, end: number): readonly (readonly unknown[])[];
}

/** The rows of `items`, each made by `values` only when its part is sent. */
function mappedRows<T>(items: readonly T[], values: (item: T) => readonly unknown[]): RowList {
  return { length: items.length, slice: (start, end) => items.slice(start, end).map(values) };
}

/** How rows are written: their statement, its column casts, or statements of their own elsewhere. */
export interface RowStatement {
  /** The statement for a VALUES list of rows (`(?, ?), (?, ?)`); it may take no other value. */
  build: (values: Prisma.Sql) => Prisma.Sql;
  /** Casts of the VALUES list's columns (PostgreSQL needs types where a VALUES list is not inserted). */
  casts?: readonly ColumnCast[];
  /** Statements for the client to run instead of build's (where another row source is cheaper there). */
  chunked?: () => Prisma.Sql[];
  /**
   * The statement a SQLite thread runs for each row instead of build's for one row, its values
   * named ?1, ?2, ... in the row's order: where a plainer statement than build's (a VALUES list
   * joined or grouped) runs faster per row. It must store what build's does (sqlite-writer.test.ts).
   */
  sqliteRow?: string;
}

/**
 * Rows of one statement shape: on a SQLite thread one row at a time through a prepared single-row
 * statement, elsewhere as multi-row statements (one round trip per chunk).
 */
interface PlannedRows extends RowStatement {
  rows: RowList;
  read: ((rows: Record<string, unknown>[]) => void) | null;
}

export class WritePlan {
  private readonly statements: (PlannedStatement | PlannedRows)[] = [];
  private readonly dates = new Map<number, Date>();

  /**
   * A time (ms since the epoch) as a row's value: one Date per distinct time in a plan, since a
   * usage batch names the same few buckets in thousands of rows.
   */
  time(ms: number): Date {
    let date = this.dates.get(ms);
    if (!date) {
      date = new Date(ms);
      this.dates.set(ms, date);
    }
    return date;
  }

  /** A statement whose rows are not read. */
  execute(sql: Prisma.Sql): void {
    this.statements.push({ sql, read: null });
  }

  /**
   * A statement that must change exactly `rows` rows: when it changes any other number, the whole
   * transaction rolls back and the write fails (isUnexpectedChanges). A DELETE of rows that only
   * one transaction may consume (the usage journal's) is how that transaction proves they were
   * still there: a concurrent one that deleted some first makes it fail, never apply them twice.
   */
  executeExpecting(sql: Prisma.Sql, rows: number): void {
    this.statements.push({ sql, read: null, expect: rows });
  }

  /** A statement whose rows `read` receives once the transaction has committed. */
  query<T extends Record<string, unknown>>(sql: Prisma.Sql, read: (rows: T[]) => void): void {
    this.statements.push({ sql, read: read as PlannedStatement['read'] });
  }

  /**
   * Writes a row for each of `items`: `values` gives its values in the statement's column order,
   * called only when the plan sends that row's part. A usage batch's rows (up to tens of thousands
   * a second) made when its write was planned outlived the young generation's collections before
   * they were sent, and V8 copied them twice and promoted them (bench (b) and (d), a sampling heap
   * profile); made a part at a time, they are garbage once the part is bound. On a SQLite thread each
   * row runs through one prepared single-row statement, so only the values are built and sent (as
   * one JSON text): planning and sending a usage batch of 2,500 distinct keys took the app's thread
   * 33 µs a key with multi-row statements (their text, thousands of parameters, a structured clone
   * of them), 20 µs this way, and SQLite runs either in the same time. Elsewhere the rows go as
   * multi-row statements of CHUNK rows. Both store the same rows the same way (sqlite-writer.test.ts).
   */
  executeRows<T>(items: readonly T[], values: (item: T) => readonly unknown[], statement: RowStatement): void {
    if (items.length > 0) this.statements.push({ rows: mappedRows(items, values), ...statement, read: null });
  }

  /** executeRows() for a statement that returns rows (RETURNING): `read` receives all of them after the commit. */
  queryRows<I, T extends Record<string, unknown>>(items: readonly I[], values: (item: I) => readonly unknown[], statement: RowStatement, read: (rows: T[]) => void): void {
    if (items.length > 0) this.statements.push({ rows: mappedRows(items, values), ...statement, read: read as PlannedRows['read'] });
  }

  get size(): number {
    return this.statements.length;
  }

  /** Runs the statements with a transaction's client; the rows of those read (for deliver()). */
  async runWith(tx: Tx): Promise<Record<string, unknown>[][]> {
    const results: Record<string, unknown>[][] = [];
    for (const statement of this.statements) {
      if (isRows(statement)) {
        const returned: Record<string, unknown>[] = [];
        for (const sql of multiRow(statement)) {
          if (statement.read) returned.push(...(await tx.$queryRaw<Record<string, unknown>[]>(sql)));
          else await tx.$executeRaw(sql);
        }
        if (statement.read) results.push(returned);
      } else if (statement.read) results.push(await tx.$queryRaw<Record<string, unknown>[]>(statement.sql));
      else {
        const changed = await tx.$executeRaw(statement.sql);
        if (statement.expect !== undefined && changed !== statement.expect) throw unexpectedChanges(statement.expect, changed);
      }
    }
    return results;
  }

  /** The statements as a SQLite thread runs them, with values bound as the Prisma adapter binds them. */
  forSqliteThread(): ThreadStatement[] {
    const binder = new SqliteBinder();
    return this.statements.map((statement) => {
      if (!isRows(statement)) {
        const single: ThreadStatement = { sql: statement.sql.sql, params: statement.sql.values.map(binder.bind), rows: statement.read !== null };
        if (statement.expect !== undefined) single.expect = statement.expect;
        return single;
      }
      // Rows of text and numbers travel as JSON strings: cheaper to send to the thread than arrays.
      // In parts of THREAD_CHUNK rows, bound and encoded one part at a time (and parsed one at a
      // time there), so that neither thread holds a large write's rows twice at once.
      const parts: (string | BoundValue[][])[] = [];
      for (let start = 0; start < statement.rows.length; start += THREAD_CHUNK) {
        const bound = statement.rows.slice(start, start + THREAD_CHUNK).map((row) => row.map(binder.bind));
        parts.push(binder.jsonSafe ? JSON.stringify(bound) : bound);
      }
      return {
        sql: statement.sqliteRow ?? singleRow(statement),
        params: [],
        rows: statement.read !== null,
        each: parts,
        ...(statement.sqliteRow ? { numbered: true } : {}),
      };
    });
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

/** Multi-row statements for rows: their own, or build's with CHUNK rows each. */
function multiRow(statement: PlannedRows): Prisma.Sql[] {
  if (statement.chunked) return statement.chunked();
  const statements: Prisma.Sql[] = [];
  for (let at = 0; at < statement.rows.length; at += CHUNK) statements.push(statement.build(sqlRows(statement.rows.slice(at, at + CHUNK), statement.casts)));
  return statements;
}

/** The statement for one row, as text with a `?` per value; throws if build adds values of its own. */
function singleRow(statement: PlannedRows): string {
  const [first] = statement.rows.slice(0, 1);
  const probe = statement.build(sqlRows([first], statement.casts));
  if (probe.values.length !== first.length || probe.values.some((value, i) => value !== first[i])) {
    throw new Error('WritePlan.executeRows: the statement may take no values but its rows\'');
  }
  return probe.sql;
}

/** '000' to '999': a time's milliseconds as the stored text writes them. */
const MILLIS = Array.from({ length: 1000 }, (_, ms) => String(ms).padStart(3, '0'));

/** Times from 1970 to 9999 have a four-digit year, so their text is a fixed-width prefix and the ms. */
const YEAR_10000_MS = Date.UTC(10000, 0, 1);

/** Seconds a binder keeps the text of (it starts again past this many). */
const MAX_SECONDS = 4096;

/** Binds values as @prisma/adapter-better-sqlite3 does, and notes whether they all fit in JSON. */
class SqliteBinder {
  /** Every value bound so far was text, a finite number or null. */
  jsonSafe = true;
  /** Each second's text up to the milliseconds ("2026-12-02T15:04:05."), by the second's ms. */
  private readonly seconds = new Map<number, string>();
  /** The last second formatted and its text: rows in time order name the same one again and again. */
  private lastSecond = Number.NaN;
  private lastText = '';

  readonly bind = (value: unknown): BoundValue => {
    if (typeof value === 'string') return value;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) this.jsonSafe = false;
      return value;
    }
    if (value === null || value === undefined) return null;
    if (value instanceof Date) return this.time(value);
    this.jsonSafe = false;
    return sqliteValue(value);
  };

  /**
   * sqliteTime(value), formatted once per second: a batch binds its request-log rows in time order,
   * most at a millisecond of their own, and a fold binds each key's last use and each address's
   * first and last sight, each another time; formatting each (toISOString, replace, a map entry)
   * cost a request-log row 11,300 of its 75,000 instructions through the writer (callgrind).
   */
  private time(value: Date): string {
    const ms = value.getTime();
    if (!(ms >= 0 && ms < YEAR_10000_MS)) return sqliteTime(value);
    const second = ms - (ms % 1000);
    if (second !== this.lastSecond) {
      let text = this.seconds.get(second);
      if (text === undefined) {
        // A plan names a few thousand seconds at most (a fold's times span its interval).
        if (this.seconds.size >= MAX_SECONDS) this.seconds.clear();
        text = sqliteTime(new Date(second)).slice(0, 20);
        this.seconds.set(second, text);
      }
      this.lastSecond = second;
      this.lastText = text;
    }
    return `${this.lastText}${MILLIS[ms % 1000]}+00:00`;
  }
}

function isRows(statement: PlannedStatement | PlannedRows): statement is PlannedRows {
  return (statement as PlannedRows).build !== undefined;
}

/** Any other value as @prisma/adapter-better-sqlite3 binds it (booleans as 0/1). */
function sqliteValue(value: unknown): BoundValue {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint' || Buffer.isBuffer(value)) return value;
  throw new TypeError(`a value of type ${typeof value} cannot be bound`);
}
