/**
 * /api/v1/tenant and /api/v1/owners/{userId}/limits: the limits above keys, for the calling key's
 * tenant. Reading needs keys:read (the guard's method rule); changing needs `admin`, since these
 * limits govern every key of the tenant, not only keys the caller could edit.
 */
import { type Request, type RequestHandler, Router } from 'express';
import type { AppContext } from '../../context';
import { requireScope } from '@keyward/guard';
import { callingKey, keyActor } from './actor';

/** The routes, each behind `manage` (the management guard). */
export function governanceRouter(ctx: AppContext, manage: RequestHandler): Router {
  const router = Router();
  const { levels } = ctx;

  router.get('/tenant', manage, async (req, res) => {
    res.json(await levels.getTenant(callingKey(req).tenantId));
  });
  router.patch('/tenant', manage, requireScope('admin'), async (req, res) => {
    res.json(await levels.updateTenant(callingKey(req).tenantId, req.body, keyActor(req)));
  });

  router.get('/owners/:userId/limits', manage, async (req: Request<{ userId: string }>, res) => {
    res.json(await levels.getOwner(callingKey(req).tenantId, req.params.userId));
  });
  router.patch('/owners/:userId/limits', manage, requireScope('admin'), async (req: Request<{ userId: string }>, res) => {
    res.json(await levels.updateOwner(callingKey(req).tenantId, req.params.userId, req.body, keyActor(req)));
  });
  return router;
}
