/**
 * GET / (the overview of the current tenant, with a bar for its budget), POST /tenant (the tenant switcher) and
 * GET /usage.csv (the tenant's usage over the last 30 UTC days by day, key or model, for the
 * people who manage the tenant: a member's keys are exported from each key's page).
 */
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { type BudgetView, dayStart } from '@keyward/guard';
import { sendCsv } from '../../http/csv-response';
import { tenantUsageCsv } from '../../presenters/activity-presenter';
import { tenantUsage, USAGE_GROUPS } from '../../usage/tenant-usage';
import { chartSeries, dailyChart } from '../charts';
import { refusalRows } from '../outcomes';
import { buildOverview } from '../overview-service';
import { hidden, requireTenantManager } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf, viewerOf } from '../viewer';
import type { DashboardDeps } from './deps';

const DAY_MS = 86_400_000;

const switchSchema = z.object({ tenantId: z.string().max(64).catch('') });
const usageQuerySchema = z.object({ groupBy: z.enum(USAGE_GROUPS).catch('day') });

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The budget the overview shows as a bar, or null: the tenant's for the people who manage it
 * (what every key spends together); a member's own budget for a member (they see their own keys).
 */
async function budgetBarOf(ctx: AppContext, viewer: ReturnType<typeof tenantOf>): Promise<{ label: string; budget: BudgetView } | null> {
  const budget = viewer.managesTenant
    ? (await ctx.levels.getTenant(viewer.tenant.id)).budget
    : (await ctx.levels.getOwner(viewer.tenant.id, viewer.user.id)).budget;
  if (!budget) return null;
  return { label: viewer.managesTenant ? 'Tenant budget' : 'Your budget', budget };
}

/** GET /, POST /tenant and GET /usage.csv. */
export function overviewRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  router.get('/', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const now = ctx.dashboard.clock();
    const overview = await buildOverview(ctx, viewer, now);
    const owners = new Map(
      (await ctx.users.findManyByIds(overview.expiring.flatMap((k) => (k.ownerId ? [k.ownerId] : [])))).map((u) => [u.id, u.email]),
    );
    const subject = viewer.managesTenant ? `the keys of ${viewer.tenant.name}` : 'your keys';
    const total = overview.daily.reduce((sum, day) => sum + day.requests, 0);
    pages.send(req, res, 'overview', {
      title: 'Overview',
      overview,
      budgetBar: await budgetBarOf(ctx, viewer),
      owners,
      chart: dailyChart('overview-daily', overview.daily, chartSeries(overview.last30), subject),
      refusals: refusalRows(overview.refusals, total),
    });
  });

  router.get('/usage.csv', signedIn, requireTenant(pages), requireTenantManager(), async (req, res) => {
    const viewer = tenantOf(req);
    const { groupBy } = usageQuerySchema.parse(req.query);
    const to = dayStart(ctx.dashboard.clock().getTime());
    const from = to - 29 * DAY_MS;
    const rows = await tenantUsage(ctx.database, viewer.tenant.id, { from, to, groupBy });
    await sendCsv(res, `keyward-usage-${groupBy}-${isoDay(from)}-${isoDay(to)}.csv`, tenantUsageCsv(groupBy, rows));
  });

  router.post('/tenant', signedIn, (req, res) => {
    const viewer = viewerOf(req);
    const { tenantId } = switchSchema.parse(req.body ?? {});
    const tenant = viewer.tenants.find((t) => t.id === tenantId);
    if (!tenant) throw hidden();
    req.session.tenantId = tenant.id;
    req.session.flash = { kind: 'info', message: `You are now working in ${tenant.name}.` };
    res.redirect('/');
  });

  return router;
}
