/**
 * Pre-aggregated usage for the overview: per tenant and day (usage_tenant_daily), per tenant, day
 * and outcome (usage_tenant_outcomes_daily), per key and month (usage_key_monthly). They are
 * written in the usage batch's transaction, from the same deltas as the per-key rollups, so the
 * overview reads 30 rows (and the top keys through an index) instead of re-aggregating 30 days of
 * per-key rows (about 750,000 at a million keys) on every load. Upserted rows are sent sorted by
 * primary key, like every other batch write, so concurrent writers never deadlock.
 */
import type { DatabaseProvider } from '../../config';
import { Prisma } from '../../generated/postgresql/client';
import type { OutcomeDelta, RollupDelta } from '../../usage/usage-batch';
import type { Db } from '../client-types';
import type { WritePlan } from '../write-plan';
import { compareText } from './batching';

/** 00:00 UTC of the first day of the month of `ms`. */
export function monthStartOf(ms: number): number {
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

interface Sums {
  requestsOk: number;
  requestsFailed: number;
  tokens: number;
  spendMicroCents: number;
}

function addTo(map: Map<string, Sums & { parts: [string, number, string] }>, key: string, parts: [string, number, string], delta: Sums): void {
  const row = map.get(key) ?? { parts, requestsOk: 0, requestsFailed: 0, tokens: 0, spendMicroCents: 0 };
  row.requestsOk += delta.requestsOk;
  row.requestsFailed += delta.requestsFailed;
  row.tokens += delta.tokens;
  row.spendMicroCents += delta.spendMicroCents;
  map.set(key, row);
}

/** Plans adding a batch's daily per-key deltas to the tenant-day and key-month rollups. */
export function upsertUsageRollups(plan: WritePlan, daily: RollupDelta[]): void {
  if (daily.length === 0) return;
  const tenantDays = new Map<string, Sums & { parts: [string, number, string] }>();
  const keyMonths = new Map<string, Sums & { parts: [string, number, string] }>();
  for (const delta of daily) {
    addTo(tenantDays, `${delta.tenantId}\u0000${delta.bucketStart}`, [delta.tenantId, delta.bucketStart, ''], delta);
    const month = monthStartOf(delta.bucketStart);
    addTo(keyMonths, `${delta.keyId}\u0000${month}`, [delta.keyId, month, delta.tenantId], delta);
  }
  const byParts = (a: { parts: [string, number, string] }, b: { parts: [string, number, string] }) =>
    compareText(a.parts[0], b.parts[0]) || a.parts[1] - b.parts[1];
  plan.executeRows(
    [...tenantDays.values()].sort(byParts),
    (r) => [r.parts[0], plan.time(r.parts[1]), r.requestsOk, r.requestsFailed, r.tokens, r.spendMicroCents],
    {
      build: (values) => Prisma.sql`INSERT INTO "usage_tenant_daily" ("tenantId", "bucketStart", "requestsOk", "requestsFailed", "tokens", "spendMicroCents")
       VALUES ${values}
       ON CONFLICT ("tenantId", "bucketStart") DO UPDATE SET
         "requestsOk" = "usage_tenant_daily"."requestsOk" + excluded."requestsOk",
         "requestsFailed" = "usage_tenant_daily"."requestsFailed" + excluded."requestsFailed",
         "tokens" = "usage_tenant_daily"."tokens" + excluded."tokens",
         "spendMicroCents" = "usage_tenant_daily"."spendMicroCents" + excluded."spendMicroCents"`,
    },
  );
  plan.executeRows(
    [...keyMonths.values()].sort(byParts),
    (r) => [r.parts[0], plan.time(r.parts[1]), r.parts[2], r.requestsOk, r.requestsFailed, r.spendMicroCents],
    {
      build: (values) => Prisma.sql`INSERT INTO "usage_key_monthly" ("keyId", "monthStart", "tenantId", "requestsOk", "requestsFailed", "spendMicroCents")
       VALUES ${values}
       ON CONFLICT ("keyId", "monthStart") DO UPDATE SET
         "requestsOk" = "usage_key_monthly"."requestsOk" + excluded."requestsOk",
         "requestsFailed" = "usage_key_monthly"."requestsFailed" + excluded."requestsFailed",
         "spendMicroCents" = "usage_key_monthly"."spendMicroCents" + excluded."spendMicroCents"`,
    },
  );
}

/** Plans adding a batch's daily per-key outcome deltas to the tenant-day-outcome rollup. */
export function upsertTenantOutcomes(plan: WritePlan, daily: OutcomeDelta[]): void {
  const sums = new Map<string, { tenantId: string; bucketStart: number; outcome: string; requests: number }>();
  for (const delta of daily) {
    const key = `${delta.tenantId}\u0000${delta.bucketStart}\u0000${delta.outcome}`;
    const row = sums.get(key) ?? { tenantId: delta.tenantId, bucketStart: delta.bucketStart, outcome: delta.outcome, requests: 0 };
    row.requests += delta.requests;
    sums.set(key, row);
  }
  const sorted = [...sums.values()].sort(
    (a, b) => compareText(a.tenantId, b.tenantId) || a.bucketStart - b.bucketStart || compareText(a.outcome, b.outcome),
  );
  plan.executeRows(
    sorted,
    (r) => [r.tenantId, plan.time(r.bucketStart), r.outcome, r.requests],
    {
      build: (values) => Prisma.sql`INSERT INTO "usage_tenant_outcomes_daily" ("tenantId", "bucketStart", "outcome", "requests")
       VALUES ${values}
       ON CONFLICT ("tenantId", "bucketStart", "outcome") DO UPDATE SET
         "requests" = "usage_tenant_outcomes_daily"."requests" + excluded."requests"`,
    },
  );
}

/**
 * Statements that rebuild the three rollups from the per-key rows (the migration's backfill), and
 * mark the window of the last 30 days for a rebuild (rollUsageWindow does it): for data written
 * around the app, such as `npm run bench:seed`.
 */
export function rebuildUsageRollupsSql(provider: DatabaseProvider): string[] {
  // SQLite stores times as ISO 8601 text: the month of 2026-12-10T... starts at 2026-12-01T00:00:00.000+00:00.
  const month =
    provider === 'sqlite'
      ? `substr("bucketStart", 1, 8) || '01T00:00:00.000+00:00'`
      : `date_trunc('month', "bucketStart" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
  const epoch = provider === 'sqlite' ? `'1970-01-01T00:00:00.000+00:00'` : `'1970-01-01 00:00:00+00'`;
  return [
    'DELETE FROM "usage_tenant_daily"',
    `INSERT INTO "usage_tenant_daily" ("tenantId", "bucketStart", "requestsOk", "requestsFailed", "tokens", "spendMicroCents")
       SELECT "tenantId", "bucketStart", SUM("requestsOk"), SUM("requestsFailed"), SUM("tokens"), SUM("spendMicroCents")
         FROM "usage_daily" GROUP BY "tenantId", "bucketStart"`,
    'DELETE FROM "usage_key_monthly"',
    `INSERT INTO "usage_key_monthly" ("keyId", "monthStart", "tenantId", "requestsOk", "requestsFailed", "spendMicroCents")
       SELECT "keyId", ${month}, MIN("tenantId"), SUM("requestsOk"), SUM("requestsFailed"), SUM("spendMicroCents")
         FROM "usage_daily" GROUP BY "keyId", ${month}`,
    'DELETE FROM "usage_tenant_outcomes_daily"',
    `INSERT INTO "usage_tenant_outcomes_daily" ("tenantId", "bucketStart", "outcome", "requests")
       SELECT "tenantId", "bucketStart", "outcome", SUM("requests") FROM "usage_outcomes_daily" GROUP BY "tenantId", "bucketStart", "outcome"`,
    // The per-key window of the last 30 days (usage-window.ts): back to never built, so the next roll rebuilds it.
    `UPDATE "usage_window_state" SET "startDay" = ${epoch}, "endDay" = ${epoch}`,
  ];
}

export interface TenantDay {
  bucketStart: Date;
  requestsOk: number;
  requestsFailed: number;
  tokens: number;
  spendMicroCents: number;
}

/** A tenant's usage per UTC day from `from`, oldest first (one row a day). */
export async function tenantDailyTotals(db: Db, tenantId: string, from: Date): Promise<TenantDay[]> {
  const rows = await db.usageTenantDaily.findMany({ where: { tenantId, bucketStart: { gte: from } }, orderBy: { bucketStart: 'asc' } });
  return rows.map((row) => ({
    bucketStart: row.bucketStart,
    requestsOk: Number(row.requestsOk),
    requestsFailed: Number(row.requestsFailed),
    tokens: Number(row.tokens),
    spendMicroCents: Number(row.spendMicroCents),
  }));
}

/** A tenant's keys with the most admitted requests in the month starting at `month` (an index walk). */
export async function topKeysOfMonth(db: Db, tenantId: string, month: Date, limit: number) {
  const rows = await db.usageKeyMonthly.findMany({
    where: { tenantId, monthStart: month },
    orderBy: [{ requestsOk: 'desc' }],
    take: limit,
  });
  return rows.map((row) => ({
    keyId: row.keyId,
    requests: Number(row.requestsOk + row.requestsFailed),
    spendMicroCents: Number(row.spendMicroCents),
  }));
}

/** A tenant's requests per UTC day and outcome in [from, to). */
export async function tenantOutcomeTotals(db: Db, tenantId: string, from: Date, to: Date) {
  const rows = await db.usageTenantOutcomeDaily.findMany({
    where: { tenantId, bucketStart: { gte: from, lt: to } },
    orderBy: [{ bucketStart: 'asc' }, { outcome: 'asc' }],
  });
  return rows.map((row) => ({ bucketStart: row.bucketStart, outcome: row.outcome, requests: Number(row.requests) }));
}
