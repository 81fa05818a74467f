/**
 * Each key's usage over a trailing window of WINDOW_DAYS UTC days, kept so that usage by key over
 * the last 30 days (GET /api/v1/usage?groupBy=key and the dashboard, by default) reads the top keys
 * through an index instead of summing every key's daily rows (about 750,000 of them for 30 days at
 * a million keys: 1.5-2.4 s a report).
 *
 * usage_key_window holds, per key, the requests (every outcome), tokens and spend of its daily rows
 * from usage_window_state's startDay to its endDay (both included), usage_key_window_outcomes the
 * requests by outcome; a key with nothing in the window has no row. It is exact:
 * - each usage batch adds, in its own transaction, its daily deltas whose day lies in the window
 *   (a later day's wait for the roll, an earlier day's are outside it);
 * - once a UTC day has begun, the roll moves the window a day at a time, each step in the same
 *   transaction: it subtracts the day that leaves, adds the stored rows of the day that enters
 *   (written before the roll) and moves the state. More than MAX_STEP_DAYS behind (the first run
 *   after the migration, a long stop) it rebuilds the window from the daily rows instead.
 * Batches and rolls never interleave: SQLite runs one write transaction at a time; on PostgreSQL a
 * batch holds the state's row FOR SHARE and a roll FOR UPDATE, so a roll waits for the batches in
 * flight and later batches wait for it. Each statement of a roll names the state it rolls from, so
 * instances rolling at once roll once. Per-day sums are read tenant by tenant through the
 * (tenantId, bucketStart) indexes.
 */
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

/** How an insert into usage_key_window adds to a key's row that exists (batches and rolls alike). */
const ADD_TO_WINDOW = `ON CONFLICT ("keyId") DO UPDATE SET
  "requests" = "usage_key_window"."requests" + excluded."requests",
  "tokens" = "usage_key_window"."tokens" + excluded."tokens",
  "spendMicroCents" = "usage_key_window"."spendMicroCents" + excluded."spendMicroCents"`;
/** The same for usage_key_window_outcomes. */
const ADD_TO_OUTCOMES = `ON CONFLICT ("keyId", "outcome") DO UPDATE SET "requests" = "usage_key_window_outcomes"."requests" + excluded."requests"`;
/** A batch's day `day` (SQL) lies in the window of state `s`. */
const inWindow = (day: string) => `s."id" = 1 AND ${day} >= s."startDay" AND ${day} <= s."endDay"`;

/** The days the window covers: 00:00 UTC of its first and last day (ms), both included. */
export interface WindowState {
  startDay: number;
  endDay: number;
}

/** Sums come back as numbers or bigints (SQLite) or numeric strings (PostgreSQL). */
const sum = (value: unknown) => Number(value ?? 0);
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
 * commits) to each key's window totals and outcome counts.
 */
export function planWindowDeltas(
  db: Pick<Database, 'sql'>,
  plan: WritePlan,
  daily: readonly RollupDelta[],
  outcomes: readonly OutcomeDelta[],
): void {
  const bigint = db.sql.cast('bigint');
  const timestamp = db.sql.cast('timestamp');
  type Totals = { keyId: string; tenantId: string; day: number; requests: number; tokens: number; spend: number };
  const totals = new Map<string, Totals>();
  const totalsOf = (keyId: string, tenantId: string, day: number) => {
    const id = `${keyId}\u0000${day}`;
    let row = totals.get(id);
    if (!row) totals.set(id, (row = { keyId, tenantId, day, requests: 0, tokens: 0, spend: 0 }));
    return row;
  };
  for (const o of outcomes) totalsOf(o.keyId, o.tenantId, o.bucketStart).requests += o.requests;
  for (const d of daily) {
    const row = totalsOf(d.keyId, d.tenantId, d.bucketStart);
    row.tokens += d.tokens;
    row.spend += d.spendMicroCents;
  }
  const sorted = [...totals.values()].sort((a, b) => compareText(a.keyId, b.keyId) || a.day - b.day);
  // GROUP BY: a batch across midnight holds two days of one key, and a multi-row upsert may touch a row once.
  plan.executeRows(
    sorted.map((r) => [r.keyId, r.tenantId, plan.time(r.day), r.requests, r.tokens, r.spend]),
    {
      casts: [null, null, timestamp, bigint, bigint, bigint],
      build: (values) => Prisma.sql`WITH v ("keyId", "tenantId", "day", "requests", "tokens", "spend") AS (VALUES ${values})
        INSERT INTO "usage_key_window" ("keyId", "tenantId", "requests", "tokens", "spendMicroCents")
        SELECT v."keyId", MIN(v."tenantId"), SUM(v."requests"), SUM(v."tokens"), SUM(v."spend") FROM v, "usage_window_state" s
         WHERE ${Prisma.raw(inWindow('v."day"'))} GROUP BY v."keyId" ORDER BY v."keyId"
        ${Prisma.raw(ADD_TO_WINDOW)}`,
      sqliteRow: `INSERT INTO "usage_key_window" ("keyId", "tenantId", "requests", "tokens", "spendMicroCents")
        SELECT ?1, ?2, ?4, ?5, ?6 FROM "usage_window_state" s WHERE ${inWindow('?3')}
        ${ADD_TO_WINDOW}`,
    },
  );
  const byOutcome = [...outcomes].sort((a, b) => compareText(a.keyId, b.keyId) || compareText(a.outcome, b.outcome) || a.bucketStart - b.bucketStart);
  plan.executeRows(
    byOutcome.map((o) => [o.keyId, o.outcome, plan.time(o.bucketStart), o.requests]),
    {
      casts: [null, null, timestamp, bigint],
      build: (values) => Prisma.sql`WITH v ("keyId", "outcome", "day", "requests") AS (VALUES ${values})
        INSERT INTO "usage_key_window_outcomes" ("keyId", "outcome", "requests")
        SELECT v."keyId", v."outcome", SUM(v."requests") FROM v, "usage_window_state" s
         WHERE ${Prisma.raw(inWindow('v."day"'))} GROUP BY v."keyId", v."outcome" ORDER BY v."keyId", v."outcome"
        ${Prisma.raw(ADD_TO_OUTCOMES)}`,
      sqliteRow: `INSERT INTO "usage_key_window_outcomes" ("keyId", "outcome", "requests")
        SELECT ?1, ?2, ?4 FROM "usage_window_state" s WHERE ${inWindow('?3')}
        ${ADD_TO_OUTCOMES}`,
    },
  );
}

/** Per key: requests (outcome rows), tokens and spend (usage rows) of the days from `first` to `last`. */
function keyTotalsOfDays(first: Date, last: Date): Prisma.Sql {
  return Prisma.sql`SELECT u."keyId" AS "keyId", MIN(u."tenantId") AS "tenantId", SUM(u."requests") AS "requests",
      SUM(u."tokens") AS "tokens", SUM(u."spend") AS "spend" FROM (
      SELECT o."keyId", o."tenantId", o."requests", 0 AS "tokens", 0 AS "spend"
        FROM "tenants" t JOIN "usage_outcomes_daily" o ON o."tenantId" = t."id" AND o."bucketStart" >= ${first} AND o."bucketStart" <= ${last}
      UNION ALL
      SELECT d."keyId", d."tenantId", 0, d."tokens", d."spendMicroCents"
        FROM "tenants" t JOIN "usage_daily" d ON d."tenantId" = t."id" AND d."bucketStart" >= ${first} AND d."bucketStart" <= ${last}
    ) u GROUP BY u."keyId"`;
}

/** Per key and outcome: requests of the days from `first` to `last`. */
function outcomeTotalsOfDays(first: Date, last: Date): Prisma.Sql {
  return Prisma.sql`SELECT o."keyId" AS "keyId", o."outcome" AS "outcome", SUM(o."requests") AS "requests"
    FROM "tenants" t JOIN "usage_outcomes_daily" o ON o."tenantId" = t."id" AND o."bucketStart" >= ${first} AND o."bucketStart" <= ${last}
    GROUP BY o."keyId", o."outcome"`;
}

const rollsFrom = (endDay: Date) => Prisma.sql`EXISTS (SELECT 1 FROM "usage_window_state" WHERE "id" = 1 AND "endDay" = ${endDay})`;

/** Adds the per-key sums of the days from `first` to `last` to the window (rows with nothing are not made). */
function planAddDays(plan: WritePlan, first: Date, last: Date, from: Date): void {
  plan.execute(Prisma.sql`INSERT INTO "usage_key_window" ("keyId", "tenantId", "requests", "tokens", "spendMicroCents")
    SELECT x."keyId", x."tenantId", x."requests", x."tokens", x."spend" FROM (${keyTotalsOfDays(first, last)}) x
     WHERE (x."requests" <> 0 OR x."tokens" <> 0 OR x."spend" <> 0) AND ${rollsFrom(from)}
    ${Prisma.raw(ADD_TO_WINDOW)}`);
  plan.execute(Prisma.sql`INSERT INTO "usage_key_window_outcomes" ("keyId", "outcome", "requests")
    SELECT x."keyId", x."outcome", x."requests" FROM (${outcomeTotalsOfDays(first, last)}) x WHERE ${rollsFrom(from)}
    ${Prisma.raw(ADD_TO_OUTCOMES)}`);
}

/** One day forward: from a window ending at `from` to one ending the next day. */
function planStep(plan: WritePlan, from: number): void {
  const fromDay = plan.time(from);
  const leaving = plan.time(from - (WINDOW_DAYS - 1) * DAY_MS);
  const entering = plan.time(from + DAY_MS);
  plan.execute(Prisma.sql`UPDATE "usage_key_window" SET
      "requests" = "usage_key_window"."requests" - x."requests",
      "tokens" = "usage_key_window"."tokens" - x."tokens",
      "spendMicroCents" = "usage_key_window"."spendMicroCents" - x."spend"
    FROM (${keyTotalsOfDays(leaving, leaving)}) x WHERE "usage_key_window"."keyId" = x."keyId" AND ${rollsFrom(fromDay)}`);
  plan.execute(Prisma.sql`UPDATE "usage_key_window_outcomes" SET "requests" = "usage_key_window_outcomes"."requests" - x."requests"
    FROM (${outcomeTotalsOfDays(leaving, leaving)}) x
    WHERE "usage_key_window_outcomes"."keyId" = x."keyId" AND "usage_key_window_outcomes"."outcome" = x."outcome" AND ${rollsFrom(fromDay)}`);
  // Keys left with nothing: found through the ranking index (tenant, requests 0, spend 0).
  plan.execute(Prisma.sql`DELETE FROM "usage_key_window"
    WHERE "tenantId" IN (SELECT "id" FROM "tenants") AND "requests" = 0 AND "spendMicroCents" = 0 AND "tokens" = 0 AND ${rollsFrom(fromDay)}`);
  plan.execute(Prisma.sql`DELETE FROM "usage_key_window_outcomes" WHERE "requests" = 0 AND "keyId" IN (
      SELECT o."keyId" FROM "tenants" t JOIN "usage_outcomes_daily" o ON o."tenantId" = t."id" AND o."bucketStart" = ${leaving}
    ) AND ${rollsFrom(fromDay)}`);
  planAddDays(plan, entering, entering, fromDay);
  planMoveState(plan, fromDay, from + DAY_MS);
}

/** The window rebuilt from the daily rows for the days up to `today`. */
function planRebuild(plan: WritePlan, from: number, today: number): void {
  const fromDay = plan.time(from);
  const first = plan.time(today - (WINDOW_DAYS - 1) * DAY_MS);
  plan.execute(Prisma.sql`DELETE FROM "usage_key_window" WHERE ${rollsFrom(fromDay)}`);
  plan.execute(Prisma.sql`DELETE FROM "usage_key_window_outcomes" WHERE ${rollsFrom(fromDay)}`);
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
  if (db.provider === 'postgresql') plan.execute(Prisma.sql`SELECT 1 FROM "usage_window_state" WHERE "id" = 1 FOR UPDATE`);
  const rebuild = today - endDay > MAX_STEP_DAYS * DAY_MS;
  if (rebuild) planRebuild(plan, endDay, today);
  else for (let day = endDay; day < today; day += DAY_MS) planStep(plan, day);
  await db.write(plan);
  return rebuild ? 'rebuilt' : 'rolled';
}

/** One of a tenant's top keys in the window: its totals, name (null once deleted) and requests by outcome. */
export interface WindowKey extends KeyTotals {
  keyName: string | null;
  outcomes: Map<string, number>;
}

/**
 * The `limit` keys of a tenant with the most requests from `firstDay` to `lastDay` (then most
 * spend, then id as text by code unit, as tenantTopKeys orders them), read from the window
 * through its index in one statement, with names and outcome counts (one text per key: 10,000
 * keys' 30,000 outcome rows as rows cost more to move than to find); null when the window does
 * not cover exactly those days (the caller sums the daily rows) or rolled while it was read.
 */
export async function windowTopKeys(db: Pick<Database, 'reads' | 'provider'>, tenantId: string, firstDay: number, lastDay: number, limit: number): Promise<WindowKey[] | null> {
  const state = await readWindowState(db);
  if (state.startDay !== firstDay || state.endDay !== lastDay) return null;
  const byId = db.provider === 'sqlite' ? 'w."keyId"' : 'w."keyId" COLLATE "C"';
  const rows = await db.reads.all<{ keyId: string; keyName: string | null; requests: unknown; tokens: unknown; spend: unknown; outcomes: string | null }>(
    `SELECT w."keyId" AS "keyId", k."name" AS "keyName", w."requests" AS "requests", w."tokens" AS "tokens", w."spendMicroCents" AS "spend",
        (SELECT string_agg(o."outcome" || '=' || o."requests", ',') FROM "usage_key_window_outcomes" o WHERE o."keyId" = w."keyId") AS "outcomes"
      FROM "usage_key_window" w LEFT JOIN "api_keys" k ON k."id" = w."keyId"
      WHERE w."tenantId" = ? ORDER BY w."requests" DESC, w."spendMicroCents" DESC, ${byId} ASC LIMIT ?`,
    [tenantId, limit],
  );
  if ((await readWindowState(db)).endDay !== state.endDay) return null;
  return mapInSlices(rows, (row) => {
    const outcomes = new Map<string, number>();
    for (const part of row.outcomes ? row.outcomes.split(',') : []) {
      const at = part.lastIndexOf('=');
      outcomes.set(part.slice(0, at), Number(part.slice(at + 1)));
    }
    return { keyId: row.keyId, keyName: row.keyName, requests: sum(row.requests), tokens: sum(row.tokens), spendMicroCents: sum(row.spend), outcomes };
  });
}
