/**
 * The OpenAI-compatible API under /api/v1 (usable by the unmodified `openai` SDK with
 * baseURL = http://<host>/api/v1): GET /models, GET /models/{id}, POST /chat/completions,
 * POST /responses, and GET /key.
 * Every route needs scope `api`; the guard runs first (see middleware/api-key-auth.ts).
 */
import { type RequestHandler, Router } from 'express';
import type { CatalogModel, UpstreamTarget } from '../config/model-catalog';
import { type AuthenticatedKey, displayPrefix, type LevelSource, type LimitBackend, limitStatus } from '@keyward/guard';
import { chatPlanOf } from '../llm/chat-plan';
import { responsesPlanOf } from '../llm/responses-plan';
import { serveResponse } from '../llm/responses-provider';
import { AppError } from '../errors';
import { localChat } from '../llm/local-provider';
import { upstreamChat } from '../llm/upstream-provider';

export interface OpenAiRoutesOptions {
  guard: RequestHandler;
  /** The guard of POST /chat/completions: it validates and prices the body before counting (chatGuardHooks). */
  chatGuard: RequestHandler;
  /** The guard of POST /responses: the same, through the chat plan (responsesGuardHooks). */
  responsesGuard: RequestHandler;
  models: ReadonlyMap<string, CatalogModel>;
  limits: LimitBackend;
  defaultMaxTokens: number;
  upstreamTimeoutMs: number;
  /** A stream whose client reads nothing for this long is ended. */
  streamIdleMs: number;
  findTenant: (id: string) => Promise<{ id: string; slug: string; name: string }>;
  /** The levels above keys, shown with what is left by GET /key. */
  levels?: LevelSource;
}

function keyOf(apiKey: AuthenticatedKey | undefined): AuthenticatedKey {
  if (!apiKey) throw new Error('openai routes mounted without the API-key guard');
  return apiKey;
}

export function openAiRouter(options: OpenAiRoutesOptions): Router {
  const router = Router();
  const { models } = options;

  /** The catalog models this key may use (all, when it names none). */
  const visibleTo = (key: AuthenticatedKey) => {
    const allowed = key.limits.allowedModels;
    return [...models.values()].filter((m) => allowed.length === 0 || allowed.includes(m.id));
  };
  const modelObject = (m: CatalogModel) => ({ id: m.id, object: 'model', created: m.created, owned_by: m.ownedBy });

  router.get('/models', options.guard, (req, res) => {
    res.json({ object: 'list', data: visibleTo(keyOf(req.apiKey)).map(modelObject) });
  });

  router.get('/models/:id', options.guard, (req, res) => {
    const model = visibleTo(keyOf(req.apiKey)).find((m) => m.id === req.params.id);
    // A model the key may not use is answered like an unknown one: the key learns nothing more.
    if (!model) {
      throw new AppError({
        status: 404,
        code: 'model_not_found',
        type: 'invalid_request_error',
        message: `The model "${req.params.id}" does not exist or this key may not use it. GET /api/v1/models lists the models you can use.`,
      });
    }
    res.json(modelObject(model));
  });

  router.post('/chat/completions', options.chatGuard, async (req, res) => {
    const key = keyOf(req.apiKey);
    const { request, model, maxTokens } = chatPlanOf(req, models, options.defaultMaxTokens);
    if (!model.upstream) {
      await localChat(res, { request, model, maxTokens, apiKey: key, streamIdleMs: options.streamIdleMs });
      return;
    }
    try {
      await upstreamChat(res, {
        request,
        model: model as CatalogModel & { upstream: UpstreamTarget },
        maxTokens,
        apiKey: key,
        timeoutMs: options.upstreamTimeoutMs,
        streamIdleMs: options.streamIdleMs,
      });
    } catch (error) {
      // The client left and the upstream call was aborted: nobody is waiting for an answer.
      if (key.signal.aborted) return;
      throw error;
    }
  });

  router.post('/responses', options.responsesGuard, async (req, res) => {
    const key = keyOf(req.apiKey);
    const plan = responsesPlanOf(req, models, options.defaultMaxTokens);
    try {
      await serveResponse(res, { plan, apiKey: key, upstreamTimeoutMs: options.upstreamTimeoutMs, streamIdleMs: options.streamIdleMs });
    } catch (error) {
      // The client left and the upstream call was aborted: nobody is waiting for an answer.
      if (key.signal.aborted) return;
      throw error;
    }
  });

  router.get('/key', options.guard, async (req, res) => {
    const key = keyOf(req.apiKey);
    const record = key.record;
    const levels = options.levels ? await options.levels.levelsOf(record) : [];
    const [status, tenant] = await Promise.all([limitStatus(options.limits, record, Date.now(), levels), options.findTenant(record.tenantId)]);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      id: record.id,
      name: record.name,
      prefix: displayPrefix(record.prefix, record.id),
      tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name },
      scopes: record.scopes,
      expiresAt: record.expiresAt?.toISOString() ?? null,
      allowedIps: record.allowedIps,
      allowedModels: record.allowedModels,
      rateLimits: status.rateLimits,
      tokenLimits: status.tokenLimits,
      quota: status.quota,
      budget: status.budget,
      concurrency: status.concurrency,
      levels: status.levels,
    });
  });

  return router;
}
