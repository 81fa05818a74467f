/**
 * Proxies a chat request to an OpenAI-compatible upstream named in the model catalog, streaming
 * included. The upstream gets Keyward's own credentials for it (never the caller's key), a
 * completion limit (so the budget reservation holds), and, when streaming, a request for the
 * final usage chunk so every request is accounted; the caller sees that chunk only if it asked.
 */
import type { Response } from 'express';
import type { CatalogModel, UpstreamTarget } from '../config/model-catalog';
import { AppError } from '../errors';
import type { AuthenticatedKey } from '../middleware/authenticated-key';
import { type ChatRequest, requestedMaxTokens } from './chat-request';
import type { TokenUsage } from './completion-types';
import { estimateTokens, promptTokensEstimate, UsageMeter } from './pricing';
import { readEventData, sendEvent, startEventStream } from './sse';

export interface UpstreamChatInput {
  request: ChatRequest;
  model: CatalogModel & { upstream: UpstreamTarget };
  maxTokens: number;
  apiKey: AuthenticatedKey;
  timeoutMs: number;
  /** Aborted when the client goes away. */
  clientGone: AbortSignal;
}

function upstreamError(status: number, code: string, message: string): AppError {
  return new AppError({ status, code, message, type: 'server_error' });
}

async function errorFromUpstream(response: globalThis.Response): Promise<AppError> {
  if (response.status === 401 || response.status === 403) {
    return upstreamError(502, 'upstream_error', 'The upstream provider refused Keyward\'s credentials for this model.');
  }
  if (response.status >= 500) {
    return upstreamError(502, 'upstream_error', `The upstream provider failed (HTTP ${response.status}).`);
  }
  const body = (await response.json().catch(() => null)) as { error?: { message?: unknown; code?: unknown } } | null;
  const message = typeof body?.error?.message === 'string' ? body.error.message : `The upstream provider refused the request (HTTP ${response.status}).`;
  const code = typeof body?.error?.code === 'string' ? body.error.code : 'upstream_rejected';
  return new AppError({ status: response.status, code, message, type: response.status === 429 ? 'rate_limit_error' : 'invalid_request_error' });
}

/** Sends the request upstream and relays the answer. Usage is reported to the key as it arrives. */
export async function upstreamChat(res: Response, input: UpstreamChatInput): Promise<void> {
  const { request, model, maxTokens, apiKey } = input;
  const streaming = request.stream === true;
  const body: Record<string, unknown> = { ...request, model: model.upstream.model };
  if (requestedMaxTokens(request) === undefined) body.max_tokens = maxTokens;
  if (streaming) body.stream_options = { ...(request.stream_options ?? {}), include_usage: true };

  const signal = AbortSignal.any([AbortSignal.timeout(input.timeoutMs), input.clientGone]);
  let response: globalThis.Response;
  try {
    response = await fetch(`${model.upstream.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: streaming ? 'text/event-stream' : 'application/json',
        ...(model.upstream.apiKey ? { authorization: `Bearer ${model.upstream.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw upstreamError(504, 'upstream_timeout', 'The upstream provider did not answer in time.');
    throw upstreamError(502, 'upstream_unreachable', 'The upstream provider cannot be reached.');
  }
  if (!response.ok) throw await errorFromUpstream(response);

  const meter = new UsageMeter(apiKey, model);
  if (!streaming) {
    const completion = (await response.json()) as { model?: string; usage?: TokenUsage };
    const usage = completion.usage;
    meter.set(usage?.prompt_tokens ?? promptTokensEstimate(request.messages), usage?.completion_tokens ?? 0);
    res.json({ ...completion, model: model.id });
    return;
  }

  if (!response.body) throw upstreamError(502, 'upstream_error', 'The upstream provider sent an empty stream.');
  const clientWantsUsage = request.stream_options?.include_usage === true;
  startEventStream(res);
  // Until the upstream's usage chunk arrives, count what streamed by estimate, so an interrupted
  // stream is still paid for; the usage chunk then replaces the estimate.
  let usageSeen = false;
  meter.add(promptTokensEstimate(request.messages), 0);
  try {
    for await (const data of readEventData(response.body)) {
      if (data === '[DONE]') {
        sendEvent(res, '[DONE]');
        break;
      }
      const chunk = JSON.parse(data) as { model?: string; usage?: TokenUsage | null; choices?: { delta?: { content?: string | null } }[] };
      if (chunk.usage) {
        usageSeen = true;
        meter.set(chunk.usage.prompt_tokens, chunk.usage.completion_tokens);
      } else if (!usageSeen) {
        const text = (chunk.choices ?? []).map((c) => c.delta?.content ?? '').join('');
        const tokens = estimateTokens(text);
        if (tokens > 0) meter.add(0, tokens);
      }
      const isUsageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage;
      if (isUsageOnly && !clientWantsUsage) continue;
      if (!clientWantsUsage) delete chunk.usage;
      if (!sendEvent(res, { ...chunk, model: model.id })) return;
    }
  } catch {
    // The upstream broke off, timed out, or the client left. Headers are sent, so the stream just
    // ends here; usage counted so far stands.
  }
  if (!res.writableEnded) res.end();
}
