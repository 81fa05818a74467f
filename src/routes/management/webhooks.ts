/**
 * /api/v1/webhooks and /api/v1/alerts: a tenant's alert webhooks for programs, inside the calling
 * key's tenant. Reading needs `keys:read` (the `manage` guard checks it); every change needs
 * `admin` (checked here, after the guard): a webhook receives alerts about every key of the
 * tenant, so creating one is a tenant-wide decision. Other tenants' ids answer 404.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { parseInput } from '../../lib/validation';
import { requireScope } from '@keyward/guard';
import { presentAlert, presentDelivery, presentWebhook } from '../../presenters/webhook-presenter';
import { callingKey, keyActor } from './actor';

const limitQuery = (fallback: number) =>
  z.object({
    limit: z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100')
      .default(fallback),
  });

/** The /api/v1/webhooks router (mount behind the `manage` guard). */
export function webhooksRouter(ctx: AppContext): Router {
  const router = Router();
  const { webhooks } = ctx;
  const admin = requireScope('admin');

  router.post('/', admin, async (req, res) => {
    const { webhook, secret } = await webhooks.create(callingKey(req).tenantId, req.body, keyActor(req));
    res.status(201).json({ ...presentWebhook(webhook), secret });
  });

  router.get('/', async (req, res) => {
    const list = await webhooks.list(callingKey(req).tenantId);
    res.json({ data: list.map(presentWebhook) });
  });

  router.get('/:id', async (req, res) => {
    res.json(presentWebhook(await webhooks.get(callingKey(req).tenantId, req.params.id)));
  });

  router.patch('/:id', admin, async (req, res) => {
    const { webhook, secret } = await webhooks.update(callingKey(req).tenantId, req.params.id as string, req.body, keyActor(req));
    res.json(secret ? { ...presentWebhook(webhook), secret } : presentWebhook(webhook));
  });

  router.delete('/:id', admin, async (req, res) => {
    await webhooks.delete(callingKey(req).tenantId, req.params.id as string, keyActor(req));
    res.status(204).end();
  });

  router.get('/:id/deliveries', async (req, res) => {
    const { limit } = parseInput(limitQuery(50), req.query);
    const list = await webhooks.deliveries(callingKey(req).tenantId, req.params.id as string, limit);
    res.json({ data: list.map(presentDelivery) });
  });

  router.post('/:id/deliveries/:deliveryId/redeliver', admin, async (req, res) => {
    await webhooks.redeliver(callingKey(req).tenantId, req.params.id as string, req.params.deliveryId as string, keyActor(req));
    ctx.webhookDeliverer.wake();
    res.status(202).json({ queued: true });
  });

  router.post('/:id/test', admin, async (req, res) => {
    await webhooks.sendTest(callingKey(req).tenantId, req.params.id as string, keyActor(req));
    res.status(202).json({ queued: true });
  });

  return router;
}

/** The /api/v1/alerts router (mount behind the `manage` guard). */
export function alertsRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const { limit } = parseInput(limitQuery(20), req.query);
    const list = await ctx.alerts.listRecent(callingKey(req).tenantId, limit);
    res.json({ data: list.map(presentAlert) });
  });
  return router;
}
