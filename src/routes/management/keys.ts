/**
 * /api/v1/keys: key management for programs, inside the calling key's tenant. Every change goes
 * through the key service (validation, audit event with the calling key as actor, cache
 * invalidation). A calling key may not grant scopes it does not hold, nor act on a key holding
 * scopes it does not hold (403 insufficient_scope): a keys:write key cannot take over an admin key.
 */
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../../context';
import { presentKey } from '../../presenters/key-presenter';
import { presentKeyUsage } from '../../presenters/usage-presenter';
import { keyUsageReport } from '../../usage/usage-report';
import { callingKey, keyActor, keyLimits } from './actor';
import { keyActivityRouter } from './key-activity';

export function keysRouter(ctx: AppContext): Router {
  const router = Router();
  const { keys } = ctx;

  router.post('/', async (req, res) => {
    const caller = callingKey(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    // A new key belongs to the calling key's owner unless the body names one.
    const input = typeof body === 'object' && !Array.isArray(body) && !('ownerId' in body) ? { ...body, ownerId: caller.ownerId } : body;
    const issued = await keys.create(caller.tenantId, input, keyActor(req), keyLimits(req));
    res.status(201).json({ key: issued.key, apiKey: presentKey(issued.apiKey) });
  });

  // Keyset pagination (keys.list): `cursor` (the previous page's nextCursor) or `page` up to 10,000 keys deep;
  // `total` counts up to 10,000 matches (`totalCapped` when there are more).
  router.get('/', async (req, res) => {
    const page = await keys.list(callingKey(req).tenantId, req.query);
    const now = new Date();
    res.json({ ...page, data: page.data.map((key) => presentKey(key, now)) });
  });

  router.get('/:id', async (req, res) => {
    res.json(presentKey(await keys.get(callingKey(req).tenantId, req.params.id)));
  });

  const update = async (req: Request<{ id: string }>, res: Response) => {
    const caller = callingKey(req);
    res.json(presentKey(await keys.update(caller.tenantId, req.params.id, req.body, keyActor(req), keyLimits(req))));
  };
  router.patch('/:id', update);
  router.put('/:id', update);

  router.delete('/:id', async (req, res) => {
    await keys.delete(callingKey(req).tenantId, req.params.id, keyActor(req), keyLimits(req));
    res.status(204).end();
  });

  router.post('/:id/regenerate', async (req, res) => {
    const issued = await keys.regenerate(callingKey(req).tenantId, req.params.id, keyActor(req), keyLimits(req));
    res.json({ key: issued.key, apiKey: presentKey(issued.apiKey) });
  });

  router.post('/:id/rotate', async (req, res) => {
    const issued = await keys.rotate(callingKey(req).tenantId, req.params.id, req.body, keyActor(req), keyLimits(req));
    res.json({ key: issued.key, apiKey: presentKey(issued.apiKey) });
  });

  const action = (name: 'revoke' | 'activate' | 'deactivate' | 'resetUsage') => async (req: Request<{ id: string }>, res: Response) => {
    res.json(presentKey(await keys[name](callingKey(req).tenantId, req.params.id, keyActor(req), keyLimits(req))));
  };
  router.post('/:id/revoke', action('revoke'));
  router.post('/:id/activate', action('activate'));
  router.post('/:id/deactivate', action('deactivate'));
  router.post('/:id/reset-usage', action('resetUsage'));

  router.get('/:id/usage', async (req, res) => {
    const key = await keys.get(callingKey(req).tenantId, req.params.id);
    res.json(presentKeyUsage(await keyUsageReport({ database: ctx.database, limits: ctx.limits }, key)));
  });

  // GET /:id/requests (the request log) and GET /:id/ips (client addresses).
  router.use(keyActivityRouter(ctx));

  return router;
}
