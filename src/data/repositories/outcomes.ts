/**
 * Reads of the outcome and model rollups (usage_outcomes_hourly/daily, usage_models_daily): per
 * key through the primary key (keyId, bucketStart, ...), per tenant through (tenantId,
 * bucketStart). Ranges are [from, to): `to` is exclusive.
 */
import type { Db } from '../client-types';
import { tenantOutcomeTotals } from './usage-rollups';

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

/** The same over the keys of one owner (members see their own keys), from `from` (one query). */
export async function ownerOutcomesByDay(db: Db, tenantId: string, ownerId: string, from: Date): Promise<OutcomeCount[]> {
  const rows = await db.$queryRaw<{ bucketStart: Date | string; outcome: string; requests: unknown }[]>`
    SELECT o."bucketStart" AS "bucketStart", o."outcome" AS "outcome", SUM(o."requests") AS "requests"
      FROM "usage_outcomes_daily" o JOIN "api_keys" k ON k."id" = o."keyId"
     WHERE o."tenantId" = ${tenantId} AND k."ownerId" = ${ownerId} AND o."bucketStart" >= ${from}
     GROUP BY o."bucketStart", o."outcome" ORDER BY o."bucketStart"`;
  // Sums come back as bigint (SQLite) or numeric strings (PostgreSQL).
  return rows.map((row) => ({ bucketStart: new Date(row.bucketStart), outcome: row.outcome, requests: Number(row.requests ?? 0) }));
}

/** A tenant's outcome counts per key in [from, to). */
export async function tenantOutcomesByKey(db: Db, tenantId: string, from: Date, to: Date): Promise<{ keyId: string; outcome: string; requests: number }[]> {
  const rows = await db.usageOutcomeDaily.groupBy({
    by: ['keyId', 'outcome'],
    where: { tenantId, bucketStart: range(from, to) },
    _sum: { requests: true },
  });
  return rows.map((row) => ({ keyId: row.keyId, outcome: row.outcome, requests: Number(row._sum.requests ?? 0n) }));
}

/** A tenant's admitted usage (tokens, spend) per key in [from, to), from usage_daily. */
export async function tenantUsageByKey(db: Db, tenantId: string, from: Date, to: Date): Promise<{ keyId: string; tokens: number; spendMicroCents: number }[]> {
  const rows = await db.usageDaily.groupBy({
    by: ['keyId'],
    where: { tenantId, bucketStart: range(from, to) },
    _sum: { tokens: true, spendMicroCents: true },
  });
  return rows.map((row) => ({ keyId: row.keyId, tokens: Number(row._sum.tokens ?? 0n), spendMicroCents: Number(row._sum.spendMicroCents ?? 0n) }));
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

/** A tenant's admitted requests per model and outcome in [from, to). */
export async function tenantModelOutcomes(
  db: Db,
  tenantId: string,
  from: Date,
  to: Date,
): Promise<(ModelUsage & { outcome: string })[]> {
  const rows = await db.usageModelDaily.groupBy({
    by: ['model', 'outcome'],
    where: { tenantId, bucketStart: range(from, to) },
    _sum: { requests: true, tokens: true, spendMicroCents: true },
  });
  return rows.map((row) => ({ ...toModelUsage(row), outcome: row.outcome }));
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
