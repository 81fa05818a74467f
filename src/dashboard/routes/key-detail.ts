/**
 * GET /keys/:id: a key's settings, status, usage (numbers and 24-hour / 30-day charts), budget,
 * rate-limit windows, recent audit events, and the "would this request pass?" form, which is a
 * GET of the same page with ?ip=&model=&chatbot= (it only looks, so GET is right).
 */
import { Router } from 'express';
import { z } from 'zod';
import { listAuditEvents } from '../../data/repositories/audit-events';
import { displayStatus } from '../../keys/key-types';
import { effectiveRateLimits, TIER_LIMITS } from '../../keys/tiers';
import { keyUsageReport } from '../../usage/usage-report';
import { dailyChart, hourlyChart } from '../charts';
import { visibleKey } from '../policy';
import { checkRequest, requestCheckIssues } from '../request-check';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

const checkQuerySchema = z.object({
  ip: z.string().max(100).optional().catch(undefined),
  model: z.string().max(100).catch(''),
  chatbot: z.string().max(100).catch(''),
});

/** GET /keys/:id. */
export function keyDetailRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  router.get('/keys/:id', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const key = await visibleKey(ctx, req, req.params.id as string);
    const now = ctx.dashboard.clock();
    const [usage, audit, owner] = await Promise.all([
      keyUsageReport({ database: ctx.database, limits: ctx.limits }, key, now.getTime()),
      listAuditEvents(ctx.database.prisma, { tenantId: viewer.tenant.id, targetId: key.id, page: 1, size: 10 }),
      key.ownerId ? ctx.users.findById(key.ownerId) : null,
    ]);

    const query = checkQuerySchema.parse(req.query);
    let check = null;
    if (query.ip !== undefined) {
      const input = { ip: query.ip, model: query.model, chatbot: query.chatbot };
      const errors = requestCheckIssues(input);
      check = {
        input,
        errors,
        result:
          Object.keys(errors).length === 0
            ? checkRequest(key, input, usage.limits, { now, models: ctx.models, defaultMaxTokens: ctx.config.llm.defaultMaxTokens })
            : null,
      };
    }

    pages.send(req, res, 'keys/detail', {
      title: key.name,
      key,
      status: displayStatus(key, now),
      owner,
      usage,
      limits: effectiveRateLimits(key.tier, key.rateLimits),
      tierLimits: TIER_LIMITS[key.tier],
      hourly: hourlyChart('chart-hourly', usage.hourly),
      daily: dailyChart('chart-daily', usage.daily),
      events: audit.rows,
      check,
      models: [...ctx.models.keys()],
    });
  });

  return router;
}
