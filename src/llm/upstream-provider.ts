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
import { promptTokensUpperBound, textTokensUpperBound, UsageMeter } from './pricing';
import { EventStream, readEventData } from './sse';

export interface UpstreamChatInput {
  request: ChatRequest;
  model: CatalogModel & { upstream: UpstreamTarget };
  maxTokens: number;
  apiKey: AuthenticatedKey;
  timeoutMs: number;
  /** A stream whose client reads nothing for this long is ended. */
  streamIdleMs: number;
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

  // The upstream call stops when the client leaves (req.apiKey.signal), or at the timeout.
  const signal = AbortSignal.any([AbortSignal.timeout(input.timeoutMs), apiKey.signal]);
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
    const completion = (await response.json()) as { model?: string; usage?: TokenUsage; choices?: { message?: { content?: unknown } }[] };
    const usage = completion.usage;
    if (usage) {
      meter.set(usage.prompt_tokens, usage.completion_tokens);
    } else {
      // No usage from the upstream: charge upper bounds, never less than what was served.
      const text = (completion.choices ?? []).map((c) => (typeof c.message?.content === 'string' ? c.message.content : '')).join('');
      meter.set(promptTokensUpperBound(request), Math.min(maxTokens, textTokensUpperBound(text)));
    }
    res.json({ ...completion, model: model.id });
    return;
  }

  if (!response.body) throw upstreamError(502, 'upstream_error', 'The upstream provider sent an empty stream.');
  const clientWantsUsage = request.stream_options?.include_usage === true;
  const stream = new EventStream(res, input.streamIdleMs);
  stream.start();
  // Until the upstream's usage chunk arrives, count upper bounds (the prompt's, and each streamed
  // text's UTF-8 bytes, at most max_tokens in all), so an interrupted stream is never charged less
  // than it was served; the usage chunk then replaces the bounds with the upstream's own count.
  let usageSeen = false;
  let streamedBound = 0;
  meter.add(promptTokensUpperBound(request), 0);
  try {
    // Reading waits while the client's buffer is full: backpressure reaches the upstream.
    for await (const data of readEventData(response.body)) {
      if (data === '[DONE]') {
        await stream.send('[DONE]');
        break;
      }
      const chunk = JSON.parse(data) as { model?: string; usage?: TokenUsage | null; choices?: { delta?: { content?: string | null } }[] };
      if (chunk.usage) {
        usageSeen = true;
        meter.set(chunk.usage.prompt_tokens, chunk.usage.completion_tokens);
      } else if (!usageSeen) {
        const text = (chunk.choices ?? []).map((c) => c.delta?.content ?? '').join('');
        const tokens = Math.min(textTokensUpperBound(text), maxTokens - streamedBound);
        if (tokens > 0) {
          streamedBound += tokens;
          meter.add(0, tokens);
        }
      }
      const isUsageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage;
      if (isUsageOnly && !clientWantsUsage) continue;
      if (!clientWantsUsage) delete chunk.usage;
      if (!(await stream.send({ ...chunk, model: model.id }))) return;
    }
  } catch {
    // The upstream broke off, timed out, or the client left (which aborted the upstream call).
    // Headers are sent, so the stream just ends here; usage counted so far stands.
  }
  stream.end();
}
