/**
 * The OpenAI-compatible API under /api/v1 (usable by the unmodified `openai` SDK with
 * baseURL = http://<host>/api/v1): GET /models, POST /chat/completions, and GET /key.
 * Every route needs scope `api`; the guard runs first (see middleware/api-key-auth.ts).
 */
import { type RequestHandler, Router } from 'express';
import type { CatalogModel, UpstreamTarget } from '../config/model-catalog';
import { displayPrefix } from '../keys/key-format';
import type { LimitBackend } from '../limits/limits';
import type { LevelSource } from '../middleware/claims';
import { limitStatus } from '../limits/limit-status';
import { chatPlanOf } from '../llm/chat-plan';
import { localChat } from '../llm/local-provider';
import { upstreamChat } from '../llm/upstream-provider';
import type { AuthenticatedKey } from '../middleware/authenticated-key';

export interface OpenAiRoutesOptions {
  guard: RequestHandler;
  /** The guard of POST /chat/completions: it validates and prices the body before counting (chatGuardHooks). */
  chatGuard: RequestHandler;
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

  router.get('/models', options.guard, (req, res) => {
    const key = keyOf(req.apiKey);
    const allowed = key.limits.allowedModels;
    const visible = [...models.values()].filter((m) => allowed.length === 0 || allowed.includes(m.id));
    res.json({
      object: 'list',
      data: visible.map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: m.ownedBy })),
    });
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
