/**
 * The overview page's numbers for a person in a tenant: keys by status, requests today (every
 * outcome, refusals included), spend this month, the last 30 days by outcome with the top refusal
 * reasons, the most used keys and keys expiring within 7 days. Tenant managers see the whole
 * tenant; members see their own keys.
 */
import type { AppContext } from '../context';
import { ownerDailyUsage, tenantDailyUsage, topKeysOfOwner, type UsageBucket } from '../data/repositories/usage';
import { keyStats, listKeyPage } from '../data/repositories/key-list';
import { topKeysOfMonth } from '../data/repositories/usage-rollups';
import type { KeyStats } from '../keys/key-service';
import { dayStart, type DisplayStatus } from '@keyward/guard';
import type { Tenant } from '../tenants/tenant-types';
import { type OutcomeCounts, type OutcomePoint, type RefusalReason, sumOutcomes, tenantOutcomeSeries, topRefusalReasons } from '../usage/outcome-report';
import { ownerScope } from './policy';
import type { Viewer } from './viewer';

const DAY_MS = 86_400_000;

/** The figures of the overview page. */
export interface Overview {
  stats: KeyStats;
  /** Every request today (UTC), admitted or refused; of those, refused and failed (client left included). */
  requestsToday: number;
  refusedToday: number;
  failedToday: number;
  requestsThisMonth: number;
  spendThisMonthMicroCents: number;
  /** The last 30 UTC days by outcome, oldest first. */
  daily: OutcomePoint[];
  last30: OutcomeCounts;
  /** Refusal reasons of the last 30 days, most frequent first. */
  refusals: RefusalReason[];
  topKeys: { id: string; name: string | null; requests: number; spendMicroCents: number }[];
  /** The first EXPIRING_SHOWN keys expiring within 7 days, soonest first, and how many there are. */
  expiring: { id: string; name: string; expiresAt: Date; ownerId: string | null }[];
  expiringTotal: number;
}

/** How many expiring keys the overview lists before "see all". */
export const EXPIRING_SHOWN = 10;

function monthStart(now: Date): number {
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
}

async function memberStats(ctx: AppContext, tenantId: string, ownerId: string): Promise<KeyStats> {
  // Capped counts (up to 10,000 each): a member's own keys.
  const count = async (status: DisplayStatus) => (await listKeyPage(ctx.database, { tenantId, ownerId, status, size: 1 })).total;
  const [active, inactive, revoked, expired] = await Promise.all((['active', 'inactive', 'revoked', 'expired'] as const).map(count));
  return { active, inactive, revoked, expired, total: active + inactive + revoked + expired };
}

/** The overview of the viewer's current tenant at `now`. */
export async function buildOverview(ctx: AppContext, viewer: Viewer & { tenant: Tenant }, now: Date): Promise<Overview> {
  const today = dayStart(now.getTime());
  const month = monthStart(now);
  const from = new Date(Math.min(today - 29 * DAY_MS, month));
  const owner = ownerScope(viewer);
  const outcomesPromise = tenantOutcomeSeries(ctx.database, viewer.tenant.id, { ownerId: owner, now: now.getTime() });
  // The key list's "expiring within 7 days" filter, so "see all" lists exactly these.
  const expiringPromise = listKeyPage(
    ctx.database,
    { tenantId: viewer.tenant.id, expires: '7d', ownerId: owner, sort: 'expiresAt', order: 'asc', size: EXPIRING_SHOWN },
    now,
  );

  let stats: KeyStats;
  let buckets: UsageBucket[];
  let top: { keyId: string; requests: number; spendMicroCents: number }[];
  const names = new Map<string, string>();

  if (!owner) {
    [stats, buckets, top] = await Promise.all([
      keyStats(ctx.database, viewer.tenant.id, now),
      tenantDailyUsage(ctx.database.prisma, viewer.tenant.id, from),
      topKeysOfMonth(ctx.database.prisma, viewer.tenant.id, new Date(month), 5),
    ]);
    const keys = await Promise.all(top.map((t) => ctx.keys.findById(t.keyId)));
    for (const key of keys) if (key && key.tenantId === viewer.tenant.id) names.set(key.id, key.name);
  } else {
    [stats, buckets, top] = await Promise.all([
      memberStats(ctx, viewer.tenant.id, owner),
      ownerDailyUsage(ctx.database, viewer.tenant.id, owner, from),
      topKeysOfOwner(ctx.database, viewer.tenant.id, owner, new Date(month), 5),
    ]);
    const keys = await Promise.all(top.map((t) => ctx.keys.findById(t.keyId)));
    for (const key of keys) if (key && key.tenantId === viewer.tenant.id && key.ownerId === owner) names.set(key.id, key.name);
  }

  const [expiring, daily] = await Promise.all([expiringPromise, outcomesPromise]);
  const thisMonth = buckets.filter((b) => b.bucketStart.getTime() >= month);
  const todays = daily[daily.length - 1];
  const last30 = sumOutcomes(daily);
  return {
    stats,
    requestsToday: todays.requests,
    refusedToday: todays.refused,
    failedToday: todays.outcomes.failed + todays.outcomes.client_closed,
    requestsThisMonth: thisMonth.reduce((sum, b) => sum + b.requestsOk + b.requestsFailed, 0),
    spendThisMonthMicroCents: thisMonth.reduce((sum, b) => sum + b.spendMicroCents, 0),
    daily,
    last30,
    refusals: topRefusalReasons(last30),
    topKeys: top.map((t) => ({ id: t.keyId, name: names.get(t.keyId) ?? null, requests: t.requests, spendMicroCents: t.spendMicroCents })),
    expiring: expiring.rows.map((k) => ({ id: k.id, name: k.name, expiresAt: k.expiresAt as Date, ownerId: k.ownerId })),
    expiringTotal: expiring.total,
  };
}
