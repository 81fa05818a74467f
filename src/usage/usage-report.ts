/**
 * A key's usage as people and programs read it: totals since the last reset, this hour, today,
 * the last 30 days, where the budget stands, and every request by outcome (refusals included)
 * with spend by model. Shared by the management API and the dashboard.
 */
import type { Database } from '../data/database';
import { keyUsageBuckets, type UsageBucket } from '../data/repositories/usage';
import { type ApiKeyRecord, dayStart, hourStart, type LevelSource, type LimitBackend, limitStatus, type LimitStatus } from '@keyward/guard';
import { type KeyOutcomeReport, keyOutcomeReport } from './outcome-report';

const DAY_MS = 86_400_000;

export interface UsagePoint {
  start: Date;
  requests: number;
  requestsOk: number;
  requestsFailed: number;
  tokens: number;
  spendMicroCents: number;
}

export interface KeyUsageReport {
  totals: { requestsOk: number; requestsFailed: number; tokens: number; spendMicroCents: number; lastUsedAt: Date | null };
  thisHour: UsagePoint;
  today: UsagePoint;
  /** The last 24 hours, oldest first, one point per hour (zeros included). */
  hourly: UsagePoint[];
  /** The last 30 days, oldest first, one point per UTC day (zeros included). */
  daily: UsagePoint[];
  limits: LimitStatus;
  /** Every request of the key by outcome (admitted and refused), refusal reasons, spend by model. */
  outcomes: KeyOutcomeReport;
}

function series(buckets: UsageBucket[], first: number, step: number, count: number): UsagePoint[] {
  const byStart = new Map(buckets.map((b) => [b.bucketStart.getTime(), b]));
  return Array.from({ length: count }, (_, i) => {
    const start = first + i * step;
    const bucket = byStart.get(start);
    const requestsOk = bucket?.requestsOk ?? 0;
    const requestsFailed = bucket?.requestsFailed ?? 0;
    return {
      start: new Date(start),
      requests: requestsOk + requestsFailed,
      requestsOk,
      requestsFailed,
      tokens: bucket?.tokens ?? 0,
      spendMicroCents: bucket?.spendMicroCents ?? 0,
    };
  });
}

/** Usage of a key from its counters and rollups (written every flush interval, so up to ~1 s behind). */
export async function keyUsageReport(
  deps: { database: Database; limits: LimitBackend; levels?: LevelSource },
  key: ApiKeyRecord,
  now = Date.now(),
): Promise<KeyUsageReport> {
  const levels = deps.levels ? await deps.levels.levelsOf(key) : [];
  const firstHour = hourStart(now) - 23 * 3_600_000;
  const firstDay = dayStart(now) - 29 * DAY_MS;
  const [hours, days, limits, outcomes] = await Promise.all([
    keyUsageBuckets(deps.database.prisma, key.id, 'hour', new Date(firstHour)),
    keyUsageBuckets(deps.database.prisma, key.id, 'day', new Date(firstDay)),
    limitStatus(deps.limits, key, now, levels),
    keyOutcomeReport(deps.database.prisma, key.id, now),
  ]);
  const hourly = series(hours, firstHour, 3_600_000, 24);
  const daily = series(days, firstDay, DAY_MS, 30);
  return {
    totals: {
      requestsOk: key.usage.requestsOk,
      requestsFailed: key.usage.requestsFailed,
      tokens: key.usage.tokens,
      spendMicroCents: key.usage.spendMicroCents,
      lastUsedAt: key.usage.lastUsedAt,
    },
    thisHour: hourly[hourly.length - 1],
    today: daily[daily.length - 1],
    hourly,
    daily,
    limits,
    outcomes,
  };
}
