/**
 * Reads of the outcome and model rollups (usage_outcomes_hourly/daily, usage_models_daily): per
 * key through the primary key (keyId, bucketStart, ...), per tenant through (tenantId,
 * bucketStart). Ranges are [from, to): `to` is exclusive.
 */
import type { Db } from '../client-types';
import type { Database } from '../database';
import { chunks } from './batching';
import { ownerRowsFrom } from './owner-rows';
import { tenantOutcomeTotals } from './usage-rollups';

/** Sums come back as numbers or bigints (SQLite) or numeric strings (PostgreSQL). */
const sum = (value: unknown) => Number(value ?? 0);

/** Requests with one outcome in one bucket. */
export interface OutcomeCount {
  bucketStart: Date;
  outcome: string;
  requests: number;
}

/** Admitted requests naming one model: how many, their tokens and spend. */
export interface ModelUsage {
  model: string;
  requests: number;
  tokens: number;
  spendMicroCents: number;
}

const range = (from: Date, to?: Date) => ({ gte: from, ...(to ? { lt: to } : {}) });

/** A key's outcome counts per hour or per day from `from`, oldest first. */
export async function keyOutcomeCounts(db: Db, keyId: string, granularity: 'hour' | 'day', from: Date, to?: Date): Promise<OutcomeCount[]> {
  const query = {
    where: { keyId, bucketStart: range(from, to) },
    orderBy: { bucketStart: 'asc' },
    select: { bucketStart: true, outcome: true, requests: true },
  } as const;
  const rows = granularity === 'hour' ? await db.usageOutcomeHourly.findMany(query) : await db.usageOutcomeDaily.findMany(query);
  return rows.map((row) => ({ bucketStart: row.bucketStart, outcome: row.outcome, requests: Number(row.requests) }));
}

/** A tenant's outcome counts per day in [from, to), summed over its keys (deleted keys included). */
export async function tenantOutcomesByDay(db: Db, tenantId: string, from: Date, to: Date): Promise<OutcomeCount[]> {
  // Read from the per-tenant rollup (a row per day and outcome), not summed from the per-key rows.
  return tenantOutcomeTotals(db, tenantId, from, to);
}

/**
 * The same over the keys of one owner (members see their own keys), from `from` (one query, driven
 * by the owner's keys through the (tenantId, ownerId) index, then each key's rows by primary key:
 * never the whole tenant's rows). Off the app's thread on SQLite (database.reads).
 */
export async function ownerOutcomesByDay(db: Database, tenantId: string, ownerId: string, from: Date): Promise<OutcomeCount[]> {
  const rows = ownerRowsFrom(db, 'usage_outcomes_daily', tenantId, ownerId, from);
  const summed = await db.reads.all<{ bucketStart: unknown; outcome: string; requests: unknown }>(
    `SELECT d."bucketStart" AS "bucketStart", d."outcome" AS "outcome", SUM(d."requests") AS "requests" ${rows.sql}
      GROUP BY d."bucketStart", d."outcome" ORDER BY d."bucketStart"`,
    rows.params,
  );
  return summed.map((row) => ({ bucketStart: new Date(row.bucketStart as string | Date), outcome: row.outcome, requests: sum(row.requests) }));
}

/** A key's totals over a range: every request (by outcome rows), admitted tokens and spend. */
export interface KeyTotals {
  keyId: string;
  requests: number;
  tokens: number;
  spendMicroCents: number;
}

/**
 * The `limit` keys of a tenant with the most requests in [from, to) (then most spend, then id, as
 * text by code unit), with their totals: an aggregate over every key's daily rows (about 750,000
 * outcome rows and as many usage rows for 30 days at a million keys, 25,000 keys a day), ranked in
 * the database so only the top rows reach the app; off the app's thread on SQLite. Keys whose rows
 * sum to nothing are left out, as in usage_key_window (usage-window.ts), which answers the same
 * question for the last 30 days through an index.
 */
export async function tenantTopKeys(db: Database, tenantId: string, from: Date, to: Date, limit: number): Promise<KeyTotals[]> {
  const byId = db.provider === 'sqlite' ? '"keyId"' : '"keyId" COLLATE "C"';
  const rows = await db.reads.all<{ keyId: string; requests: unknown; tokens: unknown; spend: unknown }>(
    `SELECT "keyId", SUM("requests") AS "requests", SUM("tokens") AS "tokens", SUM("spend") AS "spend" FROM (
        SELECT "keyId", "requests", 0 AS "tokens", 0 AS "spend" FROM "usage_outcomes_daily"
         WHERE "tenantId" = ? AND "bucketStart" >= ? AND "bucketStart" < ?
        UNION ALL
        SELECT "keyId", 0, "tokens", "spendMicroCents" FROM "usage_daily"
         WHERE "tenantId" = ? AND "bucketStart" >= ? AND "bucketStart" < ?
      ) t GROUP BY "keyId" HAVING SUM("requests") <> 0 OR SUM("tokens") <> 0 OR SUM("spend") <> 0
      ORDER BY SUM("requests") DESC, SUM("spend") DESC, ${byId} ASC LIMIT ?`,
    [tenantId, from, to, tenantId, from, to, limit],
  );
  return rows.map((row) => ({ keyId: row.keyId, requests: sum(row.requests), tokens: sum(row.tokens), spendMicroCents: sum(row.spend) }));
}

/** The outcome counts of the given keys in [from, to) (each key's rows by primary key; 500 keys a statement). */
export async function keysOutcomeCounts(db: Database, keyIds: readonly string[], from: Date, to: Date): Promise<{ keyId: string; outcome: string; requests: number }[]> {
  const out: { keyId: string; outcome: string; requests: number }[] = [];
  for (const ids of chunks(keyIds, 500)) {
    const rows = await db.reads.all<{ keyId: string; outcome: string; requests: unknown }>(
      `SELECT "keyId", "outcome", SUM("requests") AS "requests" FROM "usage_outcomes_daily"
        WHERE "keyId" IN (${ids.map(() => '?').join(', ')}) AND "bucketStart" >= ? AND "bucketStart" < ? GROUP BY "keyId", "outcome"`,
      [...ids, from, to],
    );
    for (const row of rows) out.push({ keyId: row.keyId, outcome: row.outcome, requests: sum(row.requests) });
  }
  return out;
}

/** A key's admitted requests per model from `from`, most requested first. */
export async function keyModelUsage(db: Db, keyId: string, from: Date, to?: Date): Promise<ModelUsage[]> {
  const rows = await db.usageModelDaily.groupBy({
    by: ['model'],
    where: { keyId, bucketStart: range(from, to) },
    _sum: { requests: true, tokens: true, spendMicroCents: true },
  });
  return rows.map(toModelUsage).sort(byRequests);
}

/** A tenant's admitted requests per model and outcome in [from, to) (every key's daily rows: off the app's thread). */
export async function tenantModelOutcomes(
  db: Database,
  tenantId: string,
  from: Date,
  to: Date,
): Promise<(ModelUsage & { outcome: string })[]> {
  const rows = await db.reads.all<{ model: string; outcome: string; requests: unknown; tokens: unknown; spend: unknown }>(
    `SELECT "model", "outcome", SUM("requests") AS "requests", SUM("tokens") AS "tokens", SUM("spendMicroCents") AS "spend"
       FROM "usage_models_daily" WHERE "tenantId" = ? AND "bucketStart" >= ? AND "bucketStart" < ? GROUP BY "model", "outcome"`,
    [tenantId, from, to],
  );
  return rows.map((row) => ({ model: row.model, outcome: row.outcome, requests: sum(row.requests), tokens: sum(row.tokens), spendMicroCents: sum(row.spend) }));
}

type ModelSums = { model: string; _sum: { requests: bigint | null; tokens: bigint | null; spendMicroCents: bigint | null } };

function toModelUsage(row: ModelSums): ModelUsage {
  return {
    model: row.model,
    requests: Number(row._sum.requests ?? 0n),
    tokens: Number(row._sum.tokens ?? 0n),
    spendMicroCents: Number(row._sum.spendMicroCents ?? 0n),
  };
}

function byRequests(a: ModelUsage, b: ModelUsage): number {
  return b.requests - a.requests || b.spendMicroCents - a.spendMicroCents || (a.model < b.model ? -1 : 1);
}
