/**
 * GET /keys/:id: a key's settings, status, usage, its requests by outcome (24-hour and 30-day
 * charts, refusal reasons), spend by model, the client addresses it was used from, budget,
 * rate-limit windows, recent audit events, and the "would this request pass?" form, which is a
 * GET of the same page with ?ip=&model=&chatbot= (it only looks, so GET is right).
 */
import { Router } from 'express';
import { z } from 'zod';
import { listAuditEvents } from '../../data/repositories/audit-events';
import { displayStatus, effectiveRateLimits, TIER_LIMITS } from '@keyward/guard';
import { clientAddresses } from '../../usage/request-activity';
import { keyUsageReport } from '../../usage/usage-report';
import { auditRows } from '../audit-view';
import { chartSeries, dailyChart, hourlyChart } from '../charts';
import { outcomeSummary, refusalRows } from '../outcomes';
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

/** The client addresses a key page lists (the API's maximum); the first few show, the rest fold. */
const ADDRESSES_SHOWN = 100;
const ADDRESSES_FIRST = 10;

/** GET /keys/:id. */
export function keyDetailRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  router.get('/keys/:id', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const key = await visibleKey(ctx, req, req.params.id as string);
    const now = ctx.dashboard.clock();
    const [usage, audit, owner, addresses] = await Promise.all([
      keyUsageReport({ database: ctx.database, limits: ctx.limits, levels: ctx.levelDirectory }, key, now.getTime()),
      listAuditEvents(ctx.database, { tenantId: viewer.tenant.id, targetId: key.id, page: 1, size: 10 }),
      key.ownerId ? ctx.users.findById(key.ownerId) : null,
      clientAddresses(ctx.database.prisma, key.tenantId, key.id, ADDRESSES_SHOWN),
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

    const outcomes = usage.outcomes;
    // One set of series for both charts, so a reason has the same colour and pattern in each.
    const series = chartSeries(outcomes.last30Days);
    const last30 = outcomeSummary(outcomes.last30Days);
    pages.send(req, res, 'keys/detail', {
      title: key.name,
      key,
      status: displayStatus(key, now),
      owner,
      usage,
      limits: effectiveRateLimits(key.tier, key.rateLimits),
      tierLimits: TIER_LIMITS[key.tier],
      hourly: hourlyChart('chart-hourly', outcomes.hourly, series),
      daily: dailyChart('chart-daily', outcomes.daily, series),
      last30,
      refusals: refusalRows(outcomes.topRefusals, last30.total),
      models: outcomes.models,
      addresses,
      addressesShownFirst: ADDRESSES_FIRST,
      auditRows: auditRows(audit.rows, new Set([key.id])),
      check,
      modelNames: [...ctx.models.keys()],
    });
  });

  return router;
}
