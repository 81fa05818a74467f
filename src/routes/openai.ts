/**
 * The OpenAI-compatible API under /api/v1 (usable by the unmodified `openai` SDK with
 * baseURL = http://<host>/api/v1): GET /models, POST /chat/completions, and GET /key.
 * Every route needs scope `api`; the guard runs first (see middleware/api-key-auth.ts).
 */
import { type RequestHandler, Router } from 'express';
import type { CatalogModel, UpstreamTarget } from '../config/model-catalog';
import { AppError } from '../errors';
import { displayPrefix } from '../keys/key-format';
import type { LimitBackend } from '../limits/limits';
import { limitStatus } from '../limits/limit-status';
import { parseChatRequest, requestedMaxTokens } from '../llm/chat-request';
import { localChat } from '../llm/local-provider';
import { upstreamChat } from '../llm/upstream-provider';
import type { AuthenticatedKey } from '../middleware/authenticated-key';

export interface OpenAiRoutesOptions {
  guard: RequestHandler;
  models: ReadonlyMap<string, CatalogModel>;
  limits: LimitBackend;
  defaultMaxTokens: number;
  upstreamTimeoutMs: number;
  findTenant: (id: string) => Promise<{ id: string; slug: string; name: string }>;
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

  router.post('/chat/completions', options.guard, async (req, res) => {
    const key = keyOf(req.apiKey);
    const request = parseChatRequest(req.body);
    const model = models.get(request.model);
    if (!model) {
      throw new AppError({
        status: 404,
        code: 'model_not_found',
        type: 'invalid_request_error',
        message: `The model "${request.model}" does not exist. GET /api/v1/models lists the models you can use.`,
      });
    }
    const maxTokens = requestedMaxTokens(request) ?? Math.min(options.defaultMaxTokens, model.maxOutputTokens);
    if (maxTokens > model.maxOutputTokens) {
      const field = request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
      throw new AppError({
        status: 400,
        code: 'invalid_request',
        type: 'invalid_request_error',
        message: `Invalid ${field}: ${model.id} produces at most ${model.maxOutputTokens} tokens.`,
        details: [{ field, message: `must be at most ${model.maxOutputTokens}` }],
      });
    }
    if (model.upstream) {
      const clientGone = new AbortController();
      res.once('close', () => clientGone.abort());
      await upstreamChat(res, {
        request,
        model: model as CatalogModel & { upstream: UpstreamTarget },
        maxTokens,
        apiKey: key,
        timeoutMs: options.upstreamTimeoutMs,
        clientGone: clientGone.signal,
      });
      return;
    }
    await localChat(res, { request, model, maxTokens, apiKey: key });
  });

  router.get('/key', options.guard, async (req, res) => {
    const key = keyOf(req.apiKey);
    const record = key.record;
    const [status, tenant] = await Promise.all([limitStatus(options.limits, record), options.findTenant(record.tenantId)]);
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
      quota: status.quota ? { used: status.quota.used, limit: status.quota.limit } : null,
      budget: status.budget,
    });
  });

  return router;
}
