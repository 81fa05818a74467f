/**
 * Everything under /api: JSON bodies (2 MB at most), then the routers. Each router puts the
 * API-key guard in front of its own routes with the scopes they need.
 */
import express, { Router } from 'express';
import type { AppContext } from '../context';
import { chatMaxCost } from '../llm/chat-cost';
import { apiKeyAuth } from '../middleware/api-key-auth';
import { socketAddress } from '../middleware/credentials';
import { openAiRouter } from './openai';

export function apiRouter(ctx: AppContext): Router {
  const router = Router();
  router.use(express.json({ limit: '2mb' }));

  const onError = (error: unknown) => ctx.logger.error({ err: error }, 'API-key guard: a limit store failed');
  const guard = apiKeyAuth({
    keys: ctx.keyStore,
    hasher: ctx.hasher,
    limits: ctx.limits,
    usage: ctx.usage,
    scopes: ['api'],
    maxCost: chatMaxCost(ctx.models, ctx.config.llm.defaultMaxTokens),
    clientIp: ctx.config.trustProxy === false ? socketAddress : (req) => req.ip,
    onError,
  });
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
