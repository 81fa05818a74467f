/**
 * The level_limits table: a tenant's limits and its key owners' limits (src/governance), plus the
 * durable budget ceiling of each level (the same ledger rule as api_keys: a restart counts from it).
 */
import { type BudgetPeriod, DEFAULT_ALERT_THRESHOLDS, type LevelLimits, type TenantLimits } from '@keyward/guard';
import type { Database } from '../database';
import type { Db, Tx } from '../client-types';

/** A level's stored limits and budget ledger. */
export interface LevelLimitRecord extends TenantLimits {
  subject: string;
  tenantId: string;
  userId: string | null;
  budgetPeriodStart: Date | null;
  budgetCeilingMicroCents: number;
}

type Row = {
  subject: string;
  tenantId: string;
  userId: string | null;
  budgetLimitCents: number | null;
  budgetPeriod: string | null;
  ratePerMinute: number | null;
  ratePerHour: number | null;
  ratePerDay: number | null;
  ratePerMonth: number | null;
  tokenLimitPerMinute: bigint | null;
  tokenLimitPerDay: bigint | null;
  alertThresholds: string | null;
  budgetPeriodStart: Date | null;
  budgetCeilingMicroCents: bigint;
};

const num = (value: bigint | null) => (value === null ? null : Number(value));

function parseThresholds(text: string | null): number[] {
  if (text === null) return [...DEFAULT_ALERT_THRESHOLDS];
  try {
    const list = JSON.parse(text) as unknown;
    return Array.isArray(list) && list.every((n) => Number.isInteger(n)) ? (list as number[]) : [...DEFAULT_ALERT_THRESHOLDS];
  } catch {
    return [...DEFAULT_ALERT_THRESHOLDS];
  }
}

function toRecord(row: Row): LevelLimitRecord {
  return {
    subject: row.subject,
    tenantId: row.tenantId,
    userId: row.userId,
    budget: row.budgetLimitCents === null ? null : { limitCents: row.budgetLimitCents, period: (row.budgetPeriod ?? 'total') as BudgetPeriod },
    rateLimits: { perMinute: row.ratePerMinute, perHour: row.ratePerHour, perDay: row.ratePerDay, perMonth: row.ratePerMonth },
    tokenLimits: { perMinute: num(row.tokenLimitPerMinute), perDay: num(row.tokenLimitPerDay) },
    alertThresholds: parseThresholds(row.alertThresholds),
    budgetPeriodStart: row.budgetPeriodStart,
    budgetCeilingMicroCents: Number(row.budgetCeilingMicroCents),
  };
}

/** The subject of a tenant's limits. */
export const tenantSubject = (tenantId: string) => `tenant:${tenantId}`;
/** The subject of an owner's limits within a tenant. */
export const ownerSubject = (tenantId: string, userId: string) => `owner:${tenantId}:${userId}`;

/** Every level row of a tenant (the tenant's own and its owners'). */
export async function listLevelLimitsOfTenant(db: Db | Tx, tenantId: string): Promise<LevelLimitRecord[]> {
  const rows = await db.levelLimit.findMany({ where: { tenantId } });
  return rows.map(toRecord);
}

/** One level's row, or null when nothing was ever set for it. */
export async function findLevelLimits(db: Db | Tx, subject: string): Promise<LevelLimitRecord | null> {
  const row = await db.levelLimit.findUnique({ where: { subject } });
  return row ? toRecord(row) : null;
}

/** Writes a level's limits (creating its row the first time). The ledger columns are kept. */
export async function saveLevelLimits(
  tx: Tx,
  level: { subject: string; tenantId: string; userId: string | null },
  limits: LevelLimits & { alertThresholds?: number[] },
): Promise<LevelLimitRecord> {
  const data = {
    budgetLimitCents: limits.budget?.limitCents ?? null,
    budgetPeriod: limits.budget?.period ?? null,
    ratePerMinute: limits.rateLimits.perMinute,
    ratePerHour: limits.rateLimits.perHour,
    ratePerDay: limits.rateLimits.perDay,
    ratePerMonth: limits.rateLimits.perMonth,
    tokenLimitPerMinute: limits.tokenLimits.perMinute === null ? null : BigInt(limits.tokenLimits.perMinute),
    tokenLimitPerDay: limits.tokenLimits.perDay === null ? null : BigInt(limits.tokenLimits.perDay),
    alertThresholds: limits.alertThresholds ? JSON.stringify(limits.alertThresholds) : null,
  };
  const row = await tx.levelLimit.upsert({
    where: { subject: level.subject },
    create: { ...level, ...data },
    update: data,
  });
  return toRecord(row);
}

/** Raises a level's budget ceiling for a period to at least `ceiling`; a newer period starts over. */
export async function raiseLevelCeiling(db: Db, subject: string, periodStart: number, ceiling: number): Promise<void> {
  const period = new Date(periodStart);
  await db.$executeRaw`UPDATE "level_limits" SET
      "budgetCeilingMicroCents" = CASE
        WHEN "budgetPeriodStart" = ${period} AND "budgetCeilingMicroCents" >= ${ceiling} THEN "budgetCeilingMicroCents"
        ELSE ${ceiling} END,
      "budgetPeriodStart" = ${period}
    WHERE "subject" = ${subject} AND ("budgetPeriodStart" IS NULL OR "budgetPeriodStart" <= ${period})`;
}

/** Sets levels' budget ceilings back to what a cleanly stopping process counted. */
export async function lowerLevelCeilings(db: Pick<Database, 'transaction'>, entries: { subject: string; periodStart: number; ceiling: number }[]): Promise<void> {
  if (entries.length === 0) return;
  await db.transaction(async (tx) => {
    for (const entry of [...entries].sort((a, b) => (a.subject < b.subject ? -1 : 1))) {
      await tx.$executeRaw`UPDATE "level_limits" SET "budgetCeilingMicroCents" = ${entry.ceiling}
        WHERE "subject" = ${entry.subject} AND "budgetPeriodStart" = ${new Date(entry.periodStart)}`;
    }
  });
}
