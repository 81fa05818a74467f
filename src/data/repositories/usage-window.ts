/**
 * Each key's usage over a trailing window of WINDOW_DAYS UTC days, kept so that usage by key over
 * the last 30 days (GET /api/v1/usage?groupBy=key and the dashboard, by default) reads the top keys
 * through an index instead of summing every key's daily rows (about 750,000 of them for 30 days at
 * a million keys: 1.5-2.4 s a report).
 *
 * usage_key_window holds, per key, the requests (every outcome, and one column per outcome code),
 * tokens and spend of its daily rows from usage_window_state's startDay to its endDay (both
 * included); a key with nothing in the window has no row. It is exact:
 * - each usage batch adds, in its own transaction, its daily deltas whose day lies in the window
 *   (a later day's wait for the roll, an earlier day's are outside it);
 * - once a UTC day has begun, the roll moves the window a day at a time, each step in the same
 *   transaction: it subtracts the day that leaves, adds the stored rows of the day that enters
 *   (written before the roll) and moves the state. More than MAX_STEP_DAYS behind (the first run
 *   after a migration, a long stop) it rebuilds the window from the daily rows instead.
 * Batches and rolls never interleave: SQLite runs one write transaction at a time; on PostgreSQL a
 * batch holds the state's row FOR SHARE and a roll FOR UPDATE, so a roll waits for the batches in
 * flight and later batches wait for it. Each statement of a roll names the state it rolls from, so
 * instances rolling at once roll once. Per-day sums are read tenant by tenant through the
 * (tenantId, bucketStart) indexes.
 *
 * Outcome counts are columns rather than rows of their own, and each row carries its key's name
 * (see NAME_OF): a batch writes one row per key, and a report reads 10,000 keys with their counts
 * and names from the ranking's own rows, without a join (at a million keys: about 45 ms on either
 * database, against 76-94 ms with outcome and name lookups). A new outcome code needs a migration
 * that adds its column (test/integration/usage-window.test.ts checks every code has one).
 */
import { REQUEST_OUTCOMES, type RequestOutcome } from '@keyward/guard';
import { Prisma } from '../../generated/postgresql/client';
import type { OutcomeDelta, RollupDelta } from '../../usage/usage-batch';
import type { Database } from '../database';
import { WritePlan } from '../write-plan';
import { compareText } from './batching';
import { mapInSlices } from '../../lib/slices';
import type { KeyTotals } from './outcomes';

const DAY_MS = 86_400_000;
/** The days the window covers, today included. */
export const WINDOW_DAYS = 30;
/** Further behind than this, a roll rebuilds the window rather than stepping a day at a time. */
const MAX_STEP_DAYS = 7;

/** One column per outcome code, named as the code (constants of the guard, never input). */
const OUTCOME_COLUMNS = REQUEST_OUTCOMES.map((outcome) => {
  if (!/^[a-z_]+$/.test(outcome)) throw new Error(`usage window: outcome code ${outcome} cannot name a column`);
  return `"${outcome}"`;
});
/** Every counter of a window row, as its column (sums of the daily rows). */
const COUNTERS = ['"requests"', '"tokens"', '"spendMicroCents"', ...OUTCOME_COLUMNS];
const COUNTER_LIST = COUNTERS.join(', ');
/** Where each outcome code's count is in COUNTERS (after requests, tokens and spend). */
const OUTCOME_AT = new Map<string, number>(REQUEST_OUTCOMES.map((outcome, i) => [outcome, 3 + i]));

/** How an insert into usage_key_window adds to a key's row that exists (batches and rolls alike). */
const ADD_TO_WINDOW = `ON CONFLICT ("keyId") DO UPDATE SET
  ${COUNTERS.map((c) => `${c} = "usage_key_window".${c} + excluded.${c}`).join(',\n  ')}`;
/**
 * The name a new window row starts with (SQL; null for a deleted key). Afterwards triggers on
 * api_keys keep it (renamed, deleted), so an upsert of a row that exists leaves it as it is. On
 * SQLite a row inserted without a name is named by a trigger (one writer: nothing can come
 * between). On PostgreSQL the name is read under a lock a rename also takes: a batch has locked
 * its keys' rows (lockApiKeys) and a roll the table, so a rename either committed before the read
 * or updates the committed row after.
 */
const NAME_OF = (keyId: string) => `(SELECT k."name" FROM "api_keys" k WHERE k."id" = ${keyId})`;
/** A batch's day `day` (SQL) lies in the window of state `s`. */
const inWindow = (day: string) => `s."id" = 1 AND ${day} >= s."startDay" AND ${day} <= s."endDay"`;

/** The days the window covers: 00:00 UTC of its first and last day (ms), both included. */
export interface WindowState {
  startDay: number;
  endDay: number;
}

const time = (value: unknown) => new Date(value as string | Date).getTime();

/**
 * On PostgreSQL, holds the window's state row until the batch's transaction ends (FOR SHARE:
 * batches do not wait for each other, a roll waits for them). SQLite's one writer needs nothing.
 */
export function planWindowShareLock(db: Pick<Database, 'provider'>, plan: WritePlan): void {
  if (db.provider === 'postgresql') plan.execute(Prisma.sql`SELECT 1 FROM "usage_window_state" WHERE "id" = 1 FOR SHARE`);
}

/**
 * Plans adding a batch's daily deltas that fall in the window (as the state says when the batch
 * commits) to each key's window row: one row per key and day, its counters in COUNTERS order.
 */
export function planWindowDeltas(
  db: Pick<Database, 'sql'>,
  plan: WritePlan,
  daily: readonly RollupDelta[],
  outcomes: readonly OutcomeDelta[],
): void {
  const bigint = db.sql.cast('bigint');
  const timestamp = db.sql.cast('timestamp');
  type Totals = { keyId: string; tenantId: string; day: number; counters: number[] };
  const totals = new Map<string, Totals>();
  const totalsOf = (keyId: string, tenantId: string, day: number) => {
    const id = `${keyId}\u0000${day}`;
    let row = totals.get(id);
    if (!row) totals.set(id, (row = { keyId, tenantId, day, counters: new Array<number>(COUNTERS.length).fill(0) }));
    return row;
  };
  for (const o of outcomes) {
    const { counters } = totalsOf(o.keyId, o.tenantId, o.bucketStart);
    counters[0] += o.requests;
    const at = OUTCOME_AT.get(o.outcome);
    if (at !== undefined) counters[at] += o.requests;
  }
  for (const d of daily) {
    const { counters } = totalsOf(d.keyId, d.tenantId, d.bucketStart);
    counters[1] += d.tokens;
    counters[2] += d.spendMicroCents;
  }
  const sorted = [...totals.values()].sort((a, b) => compareText(a.keyId, b.keyId) || a.day - b.day);
  const names = COUNTERS.map((_, i) => `"c${i}"`);
  // GROUP BY: a batch across midnight holds two days of one key, and a multi-row upsert may touch a row once.
  plan.executeRows(
    sorted,
    (r) => [r.keyId, r.tenantId, plan.time(r.day), ...r.counters],
    {
      casts: [null, null, timestamp, ...COUNTERS.map(() => bigint)],
      build: (values) => Prisma.sql`WITH v ("keyId", "tenantId", "day", ${Prisma.raw(names.join(', '))}) AS (VALUES ${values})
        INSERT INTO "usage_key_window" ("keyId", "tenantId", "keyName", ${Prisma.raw(COUNTER_LIST)})
        SELECT v."keyId", MIN(v."tenantId"), ${Prisma.raw(NAME_OF('v."keyId"'))}, ${Prisma.raw(names.map((n) => `SUM(v.${n})`).join(', '))} FROM v, "usage_window_state" s
         WHERE ${Prisma.raw(inWindow('v."day"'))} GROUP BY v."keyId" ORDER BY v."keyId"
        ${Prisma.raw(ADD_TO_WINDOW)}`,
      // The name is left to the trigger that names a row SQLite inserted: looked up here, it was read for
      // every row (9 µs each on the writer thread at 1M keys, the api_keys pages long out of its cache).
      sqliteRow: `INSERT INTO "usage_key_window" ("keyId", "tenantId", "keyName", ${COUNTER_LIST})
        SELECT ?1, ?2, NULL, ${COUNTERS.map((_, i) => `?${4 + i}`).join(', ')} FROM "usage_window_state" s WHERE ${inWindow('?3')}
        ${ADD_TO_WINDOW}`,
    },
  );
}

/**
 * Per key: the counters of the days from `first` to `last`, named as the window's columns: requests
 * and requests by outcome from the outcome rows, tokens and spend from the usage rows.
 */
function keyTotalsOfDays(first: Date, last: Date): Prisma.Sql {
  const byOutcome = REQUEST_OUTCOMES.map((outcome, i) => `CASE WHEN o."outcome" = '${outcome}' THEN o."requests" ELSE 0 END AS ${OUTCOME_COLUMNS[i]}`);
  return Prisma.sql`SELECT u."keyId" AS "keyId", MIN(u."tenantId") AS "tenantId", ${Prisma.raw(COUNTERS.map((c) => `SUM(u.${c}) AS ${c}`).join(', '))} FROM (
      SELECT o."keyId", o."tenantId", o."requests", 0 AS "tokens", 0 AS "spendMicroCents", ${Prisma.raw(byOutcome.join(', '))}
        FROM "tenants" t JOIN "usage_outcomes_daily" o ON o."tenantId" = t."id" AND o."bucketStart" >= ${first} AND o."bucketStart" <= ${last}
      UNION ALL
      SELECT d."keyId", d."tenantId", 0, d."tokens", d."spendMicroCents", ${Prisma.raw(OUTCOME_COLUMNS.map(() => '0').join(', '))}
        FROM "tenants" t JOIN "usage_daily" d ON d."tenantId" = t."id" AND d."bucketStart" >= ${first} AND d."bucketStart" <= ${last}
    ) u GROUP BY u."keyId"`;
}

const rollsFrom = (endDay: Date) => Prisma.sql`EXISTS (SELECT 1 FROM "usage_window_state" WHERE "id" = 1 AND "endDay" = ${endDay})`;

/** Adds the per-key sums of the days from `first` to `last` to the window (rows with nothing are not made). */
function planAddDays(plan: WritePlan, first: Date, last: Date, from: Date): void {
  plan.execute(Prisma.sql`INSERT INTO "usage_key_window" ("keyId", "tenantId", "keyName", ${Prisma.raw(COUNTER_LIST)})
    SELECT x."keyId", x."tenantId", k."name", ${Prisma.raw(COUNTERS.map((c) => `x.${c}`).join(', '))}
      FROM (${keyTotalsOfDays(first, last)}) x LEFT JOIN "api_keys" k ON k."id" = x."keyId"
     WHERE (x."requests" <> 0 OR x."tokens" <> 0 OR x."spendMicroCents" <> 0) AND ${rollsFrom(from)}
    ${Prisma.raw(ADD_TO_WINDOW)}`);
}

/** One day forward: from a window ending at `from` to one ending the next day. */
function planStep(plan: WritePlan, from: number): void {
  const fromDay = plan.time(from);
  const leaving = plan.time(from - (WINDOW_DAYS - 1) * DAY_MS);
  const entering = plan.time(from + DAY_MS);
  plan.execute(Prisma.sql`UPDATE "usage_key_window" SET
      ${Prisma.raw(COUNTERS.map((c) => `${c} = "usage_key_window".${c} - x.${c}`).join(',\n      '))}
    FROM (${keyTotalsOfDays(leaving, leaving)}) x WHERE "usage_key_window"."keyId" = x."keyId" AND ${rollsFrom(fromDay)}`);
  // Keys left with nothing (every outcome count 0 with requests 0): found through the ranking index (tenant, requests 0, spend 0).
  plan.execute(Prisma.sql`DELETE FROM "usage_key_window"
    WHERE "tenantId" IN (SELECT "id" FROM "tenants") AND "requests" = 0 AND "spendMicroCents" = 0 AND "tokens" = 0 AND ${rollsFrom(fromDay)}`);
  planAddDays(plan, entering, entering, fromDay);
  planMoveState(plan, fromDay, from + DAY_MS);
}

/** The window rebuilt from the daily rows for the days up to `today`. */
function planRebuild(plan: WritePlan, from: number, today: number): void {
  const fromDay = plan.time(from);
  const first = plan.time(today - (WINDOW_DAYS - 1) * DAY_MS);
  plan.execute(Prisma.sql`DELETE FROM "usage_key_window" WHERE ${rollsFrom(fromDay)}`);
  planAddDays(plan, first, plan.time(today), fromDay);
  planMoveState(plan, fromDay, today);
}

/** The state moved from a window ending at `fromDay` to one ending at `endDay`. */
function planMoveState(plan: WritePlan, fromDay: Date, endDay: number): void {
  plan.execute(Prisma.sql`UPDATE "usage_window_state" SET "startDay" = ${plan.time(endDay - (WINDOW_DAYS - 1) * DAY_MS)}, "endDay" = ${plan.time(endDay)}
    WHERE "id" = 1 AND "endDay" = ${fromDay}`);
}

/** The window's days as stored (an unreadable or missing state reads as never built). */
export async function readWindowState(db: Pick<Database, 'reads'>): Promise<WindowState> {
  const rows = await db.reads.all<{ startDay: unknown; endDay: unknown }>('SELECT "startDay", "endDay" FROM "usage_window_state" WHERE "id" = 1', []);
  return rows[0] ? { startDay: time(rows[0].startDay), endDay: time(rows[0].endDay) } : { startDay: 0, endDay: 0 };
}

/** What a roll did: nothing (current, or another instance's clock is already past `today`), a step or more, a rebuild. */
export type WindowRoll = 'current' | 'ahead' | 'rolled' | 'rebuilt';

/** Moves the window to end at `today` (00:00 UTC of the current day). */
export async function rollUsageWindow(db: Pick<Database, 'reads' | 'write' | 'provider'>, today: number): Promise<WindowRoll> {
  const { endDay } = await readWindowState(db);
  if (endDay === today) return 'current';
  if (endDay > today) return 'ahead';
  const plan = new WritePlan();
  if (db.provider === 'postgresql') {
    plan.execute(Prisma.sql`SELECT 1 FROM "usage_window_state" WHERE "id" = 1 FOR UPDATE`);
    // Names of keys entering the window are read while no key can be renamed or deleted (see
    // NAME_OF); taken second, when batches, which write api_keys after the state lock, are out.
    plan.execute(Prisma.sql`LOCK TABLE "api_keys" IN SHARE MODE`);
  }
  const rebuild = today - endDay > MAX_STEP_DAYS * DAY_MS;
  if (rebuild) planRebuild(plan, endDay, today);
  else for (let day = endDay; day < today; day += DAY_MS) planStep(plan, day);
  await db.write(plan);
  return rebuild ? 'rebuilt' : 'rolled';
}

/** One of a tenant's top keys in the window: its totals (requests: of the outcome codes this version knows), name (null once deleted) and requests by outcome. */
export interface WindowKey extends KeyTotals {
  keyName: string | null;
  outcomes: Record<RequestOutcome, number>;
}

/**
 * The `limit` keys of a tenant with the most requests from `firstDay` to `lastDay` (then most
 * spend, then id as text by code unit, as tenantTopKeys orders them), read from the window
 * through its index in one statement, with names and outcome counts; null when the window does
 * not cover exactly those days (the caller sums the daily rows) or rolled while it was read.
 */
export async function windowTopKeys(db: Pick<Database, 'reads' | 'provider'>, tenantId: string, firstDay: number, lastDay: number, limit: number): Promise<WindowKey[] | null> {
  const rows = await whileWindowCovers(db, firstDay, lastDay, () => (db.provider === 'sqlite' ? topRowsAsOneText : topRows)(db, tenantId, limit));
  if (rows === null) return null;
  return mapInSlices(rows, ([keyId, keyName, packed]) => {
    const counters = packed.split(',');
    const outcomes = {} as Record<RequestOutcome, number>;
    // Requests as the sum of the known codes' counts, as a report summed from the daily rows counts them.
    let requests = 0;
    for (const [outcome, at] of OUTCOME_AT) requests += outcomes[outcome as RequestOutcome] = Number(counters[at]);
    return { keyId, keyName, requests, tokens: Number(counters[1]), spendMicroCents: Number(counters[2]), outcomes };
  });
}

/**
 * windowTopKeys' keys as GET /usage answers them: one JSON array of presentUsageRow's rows (keyId,
 * keyName, requests, outcomes, tokens, costCents, in that order; a test holds JSON.parse of it
 * equal to the presented rows), built by the database; null as for windowTopKeys.
 *
 * Parsing 10,000 rows, making them objects, presenting them and serializing them again took the
 * app's thread about 90 ms a report (bench:pages, usage by key). Here the database writes each
 * row's JSON, in rank order from the window's index, and the reader joins the texts:
 * - SQLite: joined on the read worker, so one text crosses to the app's thread. Joined there
 *   rather than by group_concat: an aggregate does not know its rows come sorted, and its ORDER BY
 *   sorted the 4 MB of texts again. 10,000 rows at 1M keys, medians of 21 runs in turn: 33 ms a
 *   statement group_concat'ed, 27-30 joined on the worker (rows by json_object or concatenation
 *   alike; reading the rows alone takes 10);
 * - PostgreSQL: the same text (as fast as the packed counters: 63-82 ms against 61-79 through
 *   psql; its json_build_object took 70 ms and an aggregate 100-280 ms, its sort spilling to
 *   disk), joined by the app.
 * Writing the same JSON from the packed rows in JavaScript was slower than the objects (string
 * building and its garbage: 174-185 ms a report against 118).
 */
export async function windowTopKeysJson(db: Pick<Database, 'reads' | 'provider'>, tenantId: string, firstDay: number, lastDay: number, limit: number): Promise<string | null> {
  const sql = db.provider === 'sqlite' ? TOP_KEYS_JSON_SQL : PG_TOP_KEYS_JSON_ROWS_SQL;
  const rows = await whileWindowCovers(db, firstDay, lastDay, () => db.reads.joined(sql, [tenantId, limit], ','));
  return rows === null ? null : `[${rows}]`;
}

/** A window row `w`'s requests as the presented row counts them: the sum of the known codes' counts. */
const REQUESTS_SUM = `(${OUTCOME_COLUMNS.map((c) => `w.${c}`).join(' + ')})`;

/** How a dialect writes a value as JSON text: texts quoted (null as null), numbers, cents from micro-cents. */
interface JsonText {
  quote(value: string): string;
  number(value: string): string;
  cents(microCents: string): string;
}

/** A window row `w` as presentUsageRow presents it, as JSON text made by concatenation (see windowTopKeysJson). */
function presentedRowText(json: JsonText): string {
  return [
    `'{"keyId":' || ${json.quote('w."keyId"')}`,
    `',"keyName":' || ${json.quote('w."keyName"')}`,
    `',"requests":' || ${json.number(REQUESTS_SUM)}`,
    `',"outcomes":{' || ${REQUEST_OUTCOMES.map((outcome, i) => `'${i === 0 ? '' : ','}"${outcome}":' || ${json.number(`w.${OUTCOME_COLUMNS[i]}`)}`).join(' || ')} || '}'`,
    `',"tokens":' || ${json.number('w."tokens"')}`,
    `',"costCents":' || ${json.cents('w."spendMicroCents"')} || '}'`,
  ].join(' || ');
}

/** windowTopKeysJson's statement on SQLite (tenant, limit): the top rows' JSON texts, in rank order. */
const TOP_KEYS_JSON_SQL = topRowsSql(
  { provider: 'sqlite' },
  `${presentedRowText({ quote: (value) => `json_quote(${value})`, number: (value) => value, cents: sqliteCentsText })} AS "row"`,
);

/** windowTopKeysJson's statement on PostgreSQL (tenant, limit): the top rows' JSON texts, in rank order (to_json quotes the texts). */
const PG_TOP_KEYS_JSON_ROWS_SQL = topRowsSql(
  { provider: 'postgresql' },
  `${presentedRowText({ quote: (value) => `COALESCE(to_json(${value})::text, 'null')`, number: (value) => `${value}::text`, cents: pgCentsText })} AS "row"`,
);

/**
 * Cents from a bigint micro-cents column as JSON number text, the exact decimal (integer
 * arithmetic: numeric division keeps as few as 4 decimals for the largest bigints).
 */
function pgCentsText(m: string): string {
  const fraction = `rtrim(lpad((abs(${m}) % 1000000)::text, 6, '0'), '0')`;
  return `(CASE WHEN ${m} % 1000000 = 0 THEN (${m} / 1000000)::text ELSE (CASE WHEN ${m} < 0 THEN '-' ELSE '' END) || (abs(${m}) / 1000000)::text || '.' || ${fraction} END)`;
}

/**
 * Cents from a micro-cents column as JSON number text, equal to microCentsToCents of it. SQLite
 * prints a real to 15 digits, so the exact decimal is written out (a column that overflowed into
 * a real, which JavaScript reads inexactly too, is divided as a real).
 */
function sqliteCentsText(m: string): string {
  const decimal = `(CASE WHEN ${m} < 0 THEN '-' ELSE '' END) || rtrim(printf('%d.%06d', abs(${m}) / 1000000, abs(${m}) % 1000000), '0')`;
  return `(CASE WHEN typeof(${m}) <> 'integer' THEN json_quote(${m} / 1000000.0) WHEN ${m} % 1000000 = 0 THEN ${m} / 1000000 ELSE ${decimal} END)`;
}

/** `read()` when the window covers exactly `firstDay` to `lastDay` and did not roll while it ran; else null. */
async function whileWindowCovers<T>(db: Pick<Database, 'reads'>, firstDay: number, lastDay: number, read: () => Promise<T>): Promise<T | null> {
  const state = await readWindowState(db);
  if (state.startDay !== firstDay || state.endDay !== lastDay) return null;
  const value = await read();
  if ((await readWindowState(db)).endDay !== state.endDay) return null;
  return value;
}

/**
 * The top rows of a tenant's window, `select` their columns: by requests, then spend, then id as
 * text by code unit (PostgreSQL: COLLATE "C", as SQLite's BINARY), as tenantTopKeys orders them.
 */
function topRowsSql(db: Pick<Database, 'provider'>, select: string): string {
  return `SELECT ${select} FROM "usage_key_window" w
    WHERE w."tenantId" = ? ORDER BY w."requests" DESC, w."spendMicroCents" DESC, ${db.provider === 'sqlite' ? 'w."keyId"' : 'w."keyId" COLLATE "C"'} ASC LIMIT ?`;
}

/**
 * A row's counters as one text (COUNTERS in order, joined by commas): 10,000 rows of 19 numbered
 * columns cost three times more to move off the reading thread than to find.
 */
const COUNTERS_TEXT = COUNTERS.map((c) => `w.${c}`).join(" || ',' || ");
const PACKED_COUNTERS = `${COUNTERS_TEXT} AS "counters"`;

/** The top rows as rows (PostgreSQL: its client converts 10,000 rows faster than it parses them as one JSON). */
async function topRows(db: Pick<Database, 'reads' | 'provider'>, tenantId: string, limit: number): Promise<WindowRow[]> {
  const rows = await db.reads.all<{ keyId: string; keyName: string | null; counters: string }>(
    topRowsSql(db, `w."keyId" AS "keyId", w."keyName" AS "keyName", ${PACKED_COUNTERS}`),
    [tenantId, limit],
  );
  return rows.map((row) => [row.keyId, row.keyName, row.counters]);
}

/**
 * The top rows as one JSON text, an array of [keyId, keyName, counters] in order (SQLite), each
 * row's array written by the statement and joined on the read worker: moving 10,000 rows of three
 * texts off it cost as much again as the statement (structured clone of 10,000 objects); one text
 * crosses in one copy.
 */
async function topRowsAsOneText(db: Pick<Database, 'reads' | 'provider'>, tenantId: string, limit: number): Promise<WindowRow[]> {
  const rows = await db.reads.joined(topRowsSql(db, `json_array(w."keyId", w."keyName", ${COUNTERS_TEXT}) AS "row"`), [tenantId, limit], ',');
  return JSON.parse(`[${rows}]`);
}

/** A window row as windowTopKeys reads it: key id, name (null once deleted), packed counters. */
type WindowRow = [keyId: string, keyName: string | null, counters: string];
