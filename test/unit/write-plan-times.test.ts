/**
 * Times bound for a SQLite writer thread (WritePlan.forSqliteThread) are the text the app's own
 * client stores (sqliteTime), whichever times a plan holds and in whatever order: the binder
 * formats each second once and appends the milliseconds, so a time in another second, at another
 * millisecond of the same second, or outside four-digit years must never reuse the wrong text.
 */
import fc from 'fast-check';
import { Prisma } from '../../src/generated/postgresql/client';
import { sqliteTime } from '../../src/data/list-reads';
import { WritePlan } from '../../src/data/write-plan';

/** The values the thread would bind for rows of one column, in row order. */
function boundTimes(dates: Date[]): unknown[] {
  const plan = new WritePlan();
  plan.executeRows(
    dates,
    (date) => [date],
    { build: (values) => Prisma.sql`INSERT INTO "t" ("at") VALUES ${values}` },
  );
  const [statement] = plan.forSqliteThread();
  return (statement.each ?? []).flatMap((part) => (typeof part === 'string' ? (JSON.parse(part) as unknown[][]) : part)).map((row) => row[0]);
}

describe('times bound for the SQLite writer thread', () => {
  it('are sqliteTime() of each time, whatever the times and their order', () => {
    const anyTime = fc.date({ min: new Date(-8_640_000_000_000_000), max: new Date(8_640_000_000_000_000), noInvalidDate: true });
    // Times close together: the same second at other milliseconds, and neighbouring seconds.
    const near = fc.integer({ min: 0, max: 4_000 }).map((offset) => new Date(Date.UTC(2026, 11, 2, 15, 4, 5) - 2_000 + offset));
    fc.assert(
      fc.property(fc.array(fc.oneof(anyTime, near, near), { minLength: 1, maxLength: 40 }), (dates) => {
        expect(boundTimes(dates)).toEqual(dates.map(sqliteTime));
      }),
      { numRuns: 300 },
    );
  });

  it('in a plan naming more seconds than the binder keeps, and naming the first ones again after', () => {
    const start = Date.UTC(2026, 11, 2);
    const dates = [...Array.from({ length: 5_000 }, (_, i) => start + i * 1_000 + (i % 1_000)), start + 7, start + 1_999, start + 4_999_000].map((ms) => new Date(ms));
    expect(boundTimes(dates)).toEqual(dates.map(sqliteTime));
  });

  it('at the edges: the epoch, the last millisecond of 9999, before 1970 and after 9999', () => {
    const edges = [0, 999, 1_000, Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), -1, -1_000, -1_001, Date.UTC(2026, 11, 2, 15, 4, 5, 7)].map((ms) => new Date(ms));
    expect(boundTimes(edges)).toEqual(edges.map(sqliteTime));
    expect(boundTimes([new Date(Date.UTC(2026, 11, 2, 15, 4, 5, 7))])).toEqual(['2026-12-02T15:04:05.007+00:00']);
  });
});

describe('rows mapped from items (executeRows)', () => {
  it('are made when the plan is sent (none while it is planned), and bound as the same rows given as an array', () => {
    const items = Array.from({ length: 2_345 }, (_, i) => i);
    const values = (i: number) => [`key-${i}`, i * 7, i % 3 === 0 ? null : new Date(Date.UTC(2026, 11, 3) + i)];
    const build = (list: Prisma.Sql) => Prisma.sql`INSERT INTO "t" ("k", "n", "at") VALUES ${list}`;
    const made: number[] = [];
    const lazy = new WritePlan();
    lazy.executeRows(
      items,
      (i) => {
        made.push(i);
        return values(i);
      },
      { build },
    );
    expect(made).toEqual([]);
    const [statement] = lazy.forSqliteThread();
    // Each part's rows once, then the first row again for the single-row statement's text.
    expect(made).toEqual([...items, 0]);
    const eager = new WritePlan();
    eager.executeRows(items.map(values), (row) => row, { build });
    const [expected] = eager.forSqliteThread();
    expect(statement).toEqual(expected);
    expect(statement.each).toHaveLength(3);
  });
});
