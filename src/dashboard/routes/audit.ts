/**
 * GET /audit: the tenant's audit log, newest first, filtered by actor, action, key and date range
 * (UTC days), paginated. Every filter combination runs on an index (tenantId + the filter +
 * createdAt). Members see their own actions; platform admins can also read platform events.
 */
import { Router } from 'express';
import { z } from 'zod';
import { listAuditEvents } from '../../data/repositories/audit-events';
import { AUDIT_ACTIONS } from '../audit-view';
import { paginate } from '../links';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const day = z
  .string()
  .regex(DAY)
  .refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)))
  .optional()
  .catch(undefined);

const auditQuerySchema = z.object({
  actor: z.string().trim().max(64).optional().catch(undefined),
  action: z.enum(Object.keys(AUDIT_ACTIONS) as [string, ...string[]]).optional().catch(undefined),
  key: z.string().trim().max(64).optional().catch(undefined),
  from: day,
  to: day,
  scope: z.enum(['tenant', 'platform']).catch('tenant'),
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1),
});

const PAGE_SIZE = 25;

/** GET /audit. */
export function auditRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  router.get('/audit', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const query = auditQuerySchema.parse(req.query);
    const platform = viewer.isPlatformAdmin && query.scope === 'platform';
    const actorId = viewer.managesTenant ? query.actor || undefined : viewer.user.id;
    const { rows, total } = await listAuditEvents(ctx.database.prisma, {
      tenantId: platform ? null : viewer.tenant.id,
      actorId,
      action: query.action,
      targetId: query.key || undefined,
      from: query.from ? new Date(`${query.from}T00:00:00Z`) : undefined,
      to: query.to ? new Date(Date.parse(`${query.to}T00:00:00Z`) + 86_400_000) : undefined,
      page: query.page,
      size: PAGE_SIZE,
    });
    const people = !viewer.managesTenant
      ? []
      : platform
        ? await ctx.users.list()
        : (await ctx.users.membersOf(viewer.tenant.id)).map((m) => m.user);
    const filters = {
      actor: viewer.managesTenant ? query.actor : undefined,
      action: query.action,
      key: query.key,
      from: query.from,
      to: query.to,
      scope: platform ? 'platform' : undefined,
    };
    pages.send(req, res, 'audit', {
      title: 'Audit log',
      events: rows,
      query,
      platform,
      people,
      actions: AUDIT_ACTIONS,
      filtered: Boolean(filters.actor || filters.action || filters.key || filters.from || filters.to),
      pagination: paginate('/audit', filters, query.page, PAGE_SIZE, total),
    });
  });

  return router;
}
