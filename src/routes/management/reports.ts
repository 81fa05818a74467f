/** /api/v1/stats and /api/v1/audit-events, for the calling key's tenant. */
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { listAuditEvents } from '../../data/repositories/audit-events';
import { paginationSchema } from '../../keys/key-input';
import { parseInput } from '../../lib/validation';
import { presentAuditEvent } from '../../presenters/audit-presenter';
import { callingKey } from './actor';

const auditQuerySchema = paginationSchema.extend({
  action: z.string({ error: 'must be a string' }).max(100, 'must be at most 100 characters').optional(),
  keyId: z.string({ error: 'must be a string' }).max(64, 'must be at most 64 characters').optional(),
});

/** `guard` runs before each route (mounted beside other /v1 routers, so not router-wide). */
export function reportsRouter(ctx: AppContext, guard: RequestHandler): Router {
  const router = Router();

  router.get('/stats', guard, async (req, res) => {
    const stats = await ctx.keys.stats(callingKey(req).tenantId);
    res.json({
      totalKeys: stats.total,
      activeKeys: stats.active,
      inactiveKeys: stats.inactive,
      revokedKeys: stats.revoked,
      expiredKeys: stats.expired,
    });
  });

  router.get('/audit-events', guard, async (req, res) => {
    const query = parseInput(auditQuerySchema, req.query);
    const { rows, total } = await listAuditEvents(ctx.database.prisma, {
      tenantId: callingKey(req).tenantId,
      action: query.action || undefined,
      targetId: query.keyId || undefined,
      page: query.page,
      size: query.size,
    });
    res.json({ data: rows.map(presentAuditEvent), total, page: query.page, size: query.size });
  });

  return router;
}
