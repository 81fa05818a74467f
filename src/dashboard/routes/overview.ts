/** GET / (the overview of the current tenant) and POST /tenant (the tenant switcher). */
import { Router } from 'express';
import { z } from 'zod';
import { dailyChart } from '../charts';
import { buildOverview } from '../overview-service';
import { hidden } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf, viewerOf } from '../viewer';
import type { DashboardDeps } from './deps';

const switchSchema = z.object({ tenantId: z.string().max(64).catch('') });

/** GET / and POST /tenant. */
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
    pages.send(req, res, 'overview', {
      title: 'Overview',
      overview,
      owners,
      chart: dailyChart('overview-daily', overview.daily),
    });
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
