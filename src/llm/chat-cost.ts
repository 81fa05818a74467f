import type { Request } from 'express';
import type { CatalogModel } from '../config/model-catalog';
import type { ChatMessage } from './chat-request';
import { requestedMaxTokens } from './chat-request';
import { costMicroCents, promptTokensUpperBound } from './pricing';

/**
 * The most a chat request can cost, for the budget reservation: the prompt's token upper bound
 * at the input price plus max_tokens (or the default, which the providers then enforce) at the
 * output price. Unknown models cost nothing here; the route answers them with 404.
 */
export function chatMaxCost(models: ReadonlyMap<string, CatalogModel>, defaultMaxTokens: number) {
  return function maxChatCost(req: Request): number | undefined {
    const body = req.body as { model?: unknown; messages?: unknown; max_tokens?: unknown; max_completion_tokens?: unknown } | undefined;
    const model = typeof body?.model === 'string' ? models.get(body.model) : undefined;
    if (!model) return undefined;
    const messages = Array.isArray(body?.messages) ? (body.messages as Partial<ChatMessage>[]).filter((m) => m && typeof m === 'object') : [];
    const limits = {
      max_tokens: typeof body?.max_tokens === 'number' ? body.max_tokens : undefined,
      max_completion_tokens: typeof body?.max_completion_tokens === 'number' ? body.max_completion_tokens : undefined,
    };
    const completion = Math.min(requestedMaxTokens(limits) ?? defaultMaxTokens, model.maxOutputTokens);
    return costMicroCents(model, promptTokensUpperBound(messages), Math.max(0, completion));
  };
}
