/**
 * Everything under /api: JSON bodies (2 MB at most), then the routers. Each router puts the
 * API-key guard in front of its own routes with the scopes they need.
 */
import express, { type Request, Router } from 'express';
import type { AppContext } from '../context';
import { chatMaxCost } from '../llm/chat-cost';
import { apiKeyAuth } from '../middleware/api-key-auth';
import { socketAddress } from '../middleware/credentials';
import { keysRouter } from './management/keys';
import { reportsRouter } from './management/reports';
import { openAiRouter } from './openai';
import { openApiRouter } from './openapi/router';

export function apiRouter(ctx: AppContext): Router {
  const router = Router();
  router.use(express.json({ limit: '2mb' }));

  const shared = {
    keys: ctx.keyStore,
    hasher: ctx.hasher,
    limits: ctx.limits,
    usage: ctx.usage,
    clientIp: ctx.config.trustProxy === false ? socketAddress : (req: Request) => req.ip,
    onError: (error: unknown) => ctx.logger.error({ err: error }, 'API-key guard: a store failed'),
  };
  const guard = apiKeyAuth({ ...shared, scopes: ['api'], maxCost: chatMaxCost(ctx.models, ctx.config.llm.defaultMaxTokens) });
  // Key management: reading needs keys:read, changing needs keys:write (admin implies both).
  // Bodies here carry no model, so the model check is off.
  const manage = apiKeyAuth({
    ...shared,
    scopes: (req) => (req.method === 'GET' || req.method === 'HEAD' ? ['keys:read'] : ['keys:write']),
    model: () => undefined,
  });

  router.use(openApiRouter(ctx));
  router.use('/v1/keys', manage, keysRouter(ctx));
  router.use('/v1', reportsRouter(ctx, manage));
  router.use(
    '/v1',
    openAiRouter({
      guard,
      models: ctx.models,
      limits: ctx.limits,
      defaultMaxTokens: ctx.config.llm.defaultMaxTokens,
      upstreamTimeoutMs: ctx.config.llm.upstreamTimeoutMs,
      findTenant: (id) => ctx.tenants.getById(id),
    }),
  );
  return router;
}
