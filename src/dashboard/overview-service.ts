/**
 * The overview page's numbers for a person in a tenant: keys by status, requests today, spend
 * this month, the last 30 days, the most used keys and keys expiring within 7 days. Tenant
 * managers see the whole tenant; members see their own keys.
 */
import type { AppContext } from '../context';
import { ownerDailyUsage, tenantDailyUsage, topKeysByRequests, topKeysOfOwner, type UsageBucket } from '../data/repositories/usage';
import type { KeyStats } from '../keys/key-service';
import { dayStart } from '../limits/periods';
import type { Tenant } from '../tenants/tenant-types';
import type { ChartInput } from './charts';
import { ownerScope } from './policy';
import type { Viewer } from './viewer';

const DAY_MS = 86_400_000;

/** The figures of the overview page. */
export interface Overview {
  stats: KeyStats;
  requestsToday: number;
  failedToday: number;
  requestsThisMonth: number;
  spendThisMonthMicroCents: number;
  daily: ChartInput[];
  topKeys: { id: string; name: string | null; requests: number; spendMicroCents: number }[];
  expiring: { id: string; name: string; expiresAt: Date; ownerId: string | null }[];
}

function monthStart(now: Date): number {
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
}

/** Buckets summed per day over the series [first, first + 30 days). */
function dailySeries(buckets: UsageBucket[], first: number): ChartInput[] {
  const byDay = new Map<number, ChartInput>();
  for (let i = 0; i < 30; i++) {
    const start = first + i * DAY_MS;
    byDay.set(start, { start: new Date(start), requestsOk: 0, requestsFailed: 0 });
  }
  for (const bucket of buckets) {
    const point = byDay.get(bucket.bucketStart.getTime());
    if (point) {
      point.requestsOk += bucket.requestsOk;
      point.requestsFailed += bucket.requestsFailed;
    }
  }
  return [...byDay.values()];
}

async function memberStats(ctx: AppContext, tenantId: string, ownerId: string): Promise<KeyStats> {
  const count = async (status: string) => (await ctx.keys.list(tenantId, { ownerId, status, size: 1 })).total;
  const [active, inactive, revoked, expired] = await Promise.all(['active', 'inactive', 'revoked', 'expired'].map(count));
  return { active, inactive, revoked, expired, total: active + inactive + revoked + expired };
}

/** The overview of the viewer's current tenant at `now`. */
export async function buildOverview(ctx: AppContext, viewer: Viewer & { tenant: Tenant }, now: Date): Promise<Overview> {
  const today = dayStart(now.getTime());
  const month = monthStart(now);
  const first = today - 29 * DAY_MS;
  const from = new Date(Math.min(first, month));
  const owner = ownerScope(viewer);
  const expiringPromise = ctx.keys.expiringBetween(viewer.tenant.id, now, new Date(now.getTime() + 7 * DAY_MS), {
    ownerId: owner,
    limit: 10,
  });

  let stats: KeyStats;
  let buckets: UsageBucket[];
  let top: { keyId: string; requests: number; spendMicroCents: number }[];
  const names = new Map<string, string>();

  if (!owner) {
    [stats, buckets, top] = await Promise.all([
      ctx.keys.stats(viewer.tenant.id),
      tenantDailyUsage(ctx.database.prisma, viewer.tenant.id, from),
      topKeysByRequests(ctx.database.prisma, viewer.tenant.id, new Date(month), 5),
    ]);
    const keys = await Promise.all(top.map((t) => ctx.keys.findById(t.keyId)));
    for (const key of keys) if (key && key.tenantId === viewer.tenant.id) names.set(key.id, key.name);
  } else {
    [stats, buckets, top] = await Promise.all([
      memberStats(ctx, viewer.tenant.id, owner),
      ownerDailyUsage(ctx.database.prisma, viewer.tenant.id, owner, from),
      topKeysOfOwner(ctx.database.prisma, viewer.tenant.id, owner, new Date(month), 5),
    ]);
    const keys = await Promise.all(top.map((t) => ctx.keys.findById(t.keyId)));
    for (const key of keys) if (key && key.tenantId === viewer.tenant.id && key.ownerId === owner) names.set(key.id, key.name);
  }

  const todays = buckets.filter((b) => b.bucketStart.getTime() === today);
  const thisMonth = buckets.filter((b) => b.bucketStart.getTime() >= month);
  return {
    stats,
    requestsToday: todays.reduce((sum, b) => sum + b.requestsOk + b.requestsFailed, 0),
    failedToday: todays.reduce((sum, b) => sum + b.requestsFailed, 0),
    requestsThisMonth: thisMonth.reduce((sum, b) => sum + b.requestsOk + b.requestsFailed, 0),
    spendThisMonthMicroCents: thisMonth.reduce((sum, b) => sum + b.spendMicroCents, 0),
    daily: dailySeries(buckets, first),
    topKeys: top.map((t) => ({ id: t.keyId, name: names.get(t.keyId) ?? null, requests: t.requests, spendMicroCents: t.spendMicroCents })),
    expiring: await expiringPromise,
  };
}
