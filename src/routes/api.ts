/**
 * Everything under /api: JSON bodies (2 MB at most), then the routers. Each router puts the
 * API-key guard in front of its own routes with the scopes they need.
 */
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { AppContext } from '../context';
import { ThrottledLog } from '../lib/throttled-log';
import { teeRecorder } from '../usage/tee-recorder';
import { apiCors } from '../http/cors';
import { chatGuardHooks } from '../llm/chat-plan';
import { responsesGuardHooks } from '../llm/responses-plan';
import { apiKeyAuth, socketAddress } from '@keyward/guard';
import { type GuardObservers, guardObservers } from '../observability/guard-observers';
import { governanceRouter } from './management/governance';
import { keysRouter } from './management/keys';
import { verifyRouter } from './management/verify';
import { keyFeedRouter } from './management/key-feed';
import { reportsRouter } from './management/reports';
import { alertsRouter, webhooksRouter } from './management/webhooks';
import { openAiRouter } from './openai';
import { openApiRouter } from './openapi/router';

/** The /api router; `observe` wires metrics and the access log around its guards (default: nothing). */
export function apiRouter(ctx: AppContext, observe: GuardObservers = guardObservers({ metrics: null, verdicts: null })): Router {
  const router = Router();
  router.use(apiHeaders);
  // Browsers on CORS_ORIGINS may call /api; preflights are answered before any guard counts them.
  router.use(apiCors({ origins: ctx.config.cors.origins }));
  router.use(express.json({ limit: '2mb' }));

  // While a store is down every guarded request fails alike: one line per kind per interval.
  const storeFailures = new ThrottledLog(ctx.logger);
  const shared = {
    keys: ctx.keyStore,
    hasher: ctx.hasher,
    limits: observe.limits(ctx.limits),
    clientIp: ctx.config.trustProxy === false ? socketAddress : (req: Request) => req.ip,
    onError: (error: unknown) => {
      const kind = (error as { code?: unknown } | null)?.code ?? (error as Error | null)?.name ?? 'unknown';
      storeFailures.error(`api-guard:${String(kind)}`, error, 'API-key guard: a store failed');
    },
  };
  // Usage goes to the buffer (the database) and to the threshold monitor (budget and quota alerts).
  const usage = observe.recorder('api', teeRecorder(ctx.usage, ctx.thresholds.recorder()));
  // /api traffic also fits the levels above each key (its owner's and tenant's limits).
  const guard = observe.timed('api', apiKeyAuth({ ...shared, usage, scopes: ['api'], levels: ctx.levelDirectory }));
  // Chat bodies are validated and priced before anything is counted (a bad body consumes nothing).
  const chat = chatGuardHooks(ctx.models, ctx.config.llm.defaultMaxTokens);
  const chatGuard = observe.timed('api', apiKeyAuth({ ...shared, usage, scopes: ['api'], levels: ctx.levelDirectory, ...chat, validate: observe.validate(chat.validate) }));
  // The Responses API is served through the chat plan: validated, priced and reserved the same way.
  const responses = responsesGuardHooks(ctx.models, ctx.config.llm.defaultMaxTokens);
  const responsesGuard = observe.timed('api', apiKeyAuth({ ...shared, usage, scopes: ['api'], levels: ctx.levelDirectory, ...responses, validate: observe.validate(responses.validate) }));
  // Key management: reading needs keys:read, changing needs keys:write (admin implies both). It
  // has its own per-key window and never spends the calling key's /api windows, quota or budget
  // (so it is not recorded as /api usage either: its recorder only feeds metrics and the access
  // log). Bodies here carry no model: the model check is off.
  const manage = observe.timed('management', apiKeyAuth({
    ...shared,
    usage: observe.recorder('management'),
    scopes: (req) => (req.method === 'GET' || req.method === 'HEAD' ? ['keys:read'] : ['keys:write']),
    model: () => undefined,
    rateLimit: { name: 'management', perMinute: ctx.config.management.ratePerMinute },
  }));

  // Key verification for other services: its own scope and window; the verified key is checked as /api does.
  const verifyCaller = observe.timed('management', apiKeyAuth({
    ...shared,
    usage: observe.recorder('management'),
    scopes: ['keys:verify'],
    model: () => undefined,
    chatbot: () => undefined,
    rateLimit: { name: 'verify', perMinute: ctx.config.verify.ratePerMinute },
  }));

  router.use(openApiRouter(ctx));
  router.use('/v1/keys/verify', verifyRouter(ctx.verification, verifyCaller));
  // The key change feed (server-sent events) for services caching verify answers: same caller guard, once per connection.
  router.use('/v1/keys/changes', keyFeedRouter(ctx.keyEvents, verifyCaller));
  router.use('/v1/keys', manage, keysRouter(ctx));
  // Alert webhooks: reads need keys:read (the guard), changes admin (checked in the router).
  router.use('/v1/webhooks', manage, webhooksRouter(ctx));
  router.use('/v1/alerts', manage, alertsRouter(ctx));
  router.use('/v1', reportsRouter(ctx, manage));
  router.use('/v1', governanceRouter(ctx, manage));
  router.use(
    '/v1',
    openAiRouter({
      guard,
      chatGuard,
      responsesGuard,
      models: ctx.models,
      limits: ctx.limits,
      defaultMaxTokens: ctx.config.llm.defaultMaxTokens,
      upstreamTimeoutMs: ctx.config.llm.upstreamTimeoutMs,
      streamIdleMs: ctx.config.http.streamIdleTimeoutMs,
      findTenant: (id) => ctx.tenants.getById(id),
      levels: ctx.levelDirectory,
    }),
  );
  return router;
}

/**
 * Every /api answer: never sniffed as another content type, never cached (answers carry key
 * settings and, on create/regenerate/rotate, a secret). The OpenAPI document overrides caching.
 */
function apiHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  next();
}
