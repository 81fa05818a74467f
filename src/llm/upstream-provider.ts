/**
 * Proxies a chat request to an OpenAI-compatible upstream named in the model catalog, streaming
 * included. The upstream gets Keyward's own credentials for it (never the caller's key), a
 * completion limit (so the budget reservation holds), and, when streaming, a request for the
 * final usage chunk so every request is accounted; the caller sees that chunk only if it asked.
 */
import type { Response } from 'express';
import type { CatalogModel, UpstreamTarget } from '../config/model-catalog';
import { AppError } from '../errors';
import type { AuthenticatedKey } from '@keyward/guard';
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

/** A non-streamed upstream completion, as far as Keyward reads it. */
export interface UpstreamCompletion {
  model?: string;
  usage?: TokenUsage;
  choices?: { message?: { content?: unknown }; finish_reason?: string | null }[];
}

/** A streamed upstream chunk, as far as Keyward reads it. */
export interface UpstreamChunk {
  model?: string;
  usage?: TokenUsage | null;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
}

/**
 * Calls the upstream's /chat/completions with Keyward's credentials for it and a completion limit
 * (streamed: asking for the usage chunk). Aborted when the client leaves or at the timeout; a
 * refusal or failure of the upstream is thrown as an AppError.
 */
export async function callUpstream(input: UpstreamChatInput): Promise<globalThis.Response> {
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
  if (streaming && !response.body) throw upstreamError(502, 'upstream_error', 'The upstream provider sent an empty stream.');
  return response;
}

/** Charges a non-streamed completion: the upstream's usage, or upper bounds when it sent none. */
export function meterCompletion(meter: UsageMeter, completion: UpstreamCompletion, request: ChatRequest, maxTokens: number): void {
  const usage = completion.usage;
  if (usage) {
    meter.set(usage.prompt_tokens, usage.completion_tokens);
    return;
  }
  // No usage from the upstream: charge upper bounds, never less than what was served.
  const text = (completion.choices ?? []).map((c) => (typeof c.message?.content === 'string' ? c.message.content : '')).join('');
  meter.set(promptTokensUpperBound(request), Math.min(maxTokens, textTokensUpperBound(text)));
}

/**
 * Charges a streamed answer as it arrives. Until the upstream's usage chunk arrives it counts upper
 * bounds (the prompt's, and each streamed text's UTF-8 bytes, at most max_tokens in all), so an
 * interrupted stream is never charged less than it was served; the usage chunk then replaces the
 * bounds with the upstream's own count.
 */
export class StreamUsage {
  private usageSeen = false;
  private streamedBound = 0;

  constructor(
    private readonly meter: UsageMeter,
    request: ChatRequest,
    private readonly maxTokens: number,
  ) {
    meter.add(promptTokensUpperBound(request), 0);
  }

  /** Counts one chunk (its text's bound, or the upstream's usage). */
  observe(chunk: UpstreamChunk): void {
    if (chunk.usage) {
      this.usageSeen = true;
      this.meter.set(chunk.usage.prompt_tokens, chunk.usage.completion_tokens);
      return;
    }
    if (this.usageSeen) return;
    const text = (chunk.choices ?? []).map((c) => c.delta?.content ?? '').join('');
    const tokens = Math.min(textTokensUpperBound(text), this.maxTokens - this.streamedBound);
    if (tokens > 0) {
      this.streamedBound += tokens;
      this.meter.add(0, tokens);
    }
  }
}

/** Sends the request upstream and relays the answer. Usage is reported to the key as it arrives. */
export async function upstreamChat(res: Response, input: UpstreamChatInput): Promise<void> {
  const { request, model, maxTokens, apiKey } = input;
  const response = await callUpstream(input);
  const meter = new UsageMeter(apiKey, model);
  if (request.stream !== true) {
    const completion = (await response.json()) as UpstreamCompletion;
    meterCompletion(meter, completion, request, maxTokens);
    res.json({ ...completion, model: model.id });
    return;
  }

  const clientWantsUsage = request.stream_options?.include_usage === true;
  const stream = new EventStream(res, input.streamIdleMs);
  stream.start();
  const usage = new StreamUsage(meter, request, maxTokens);
  try {
    // Reading waits while the client's buffer is full: backpressure reaches the upstream.
    for await (const data of readEventData(response.body as ReadableStream<Uint8Array>)) {
      if (data === '[DONE]') {
        await stream.send('[DONE]');
        break;
      }
      const chunk = JSON.parse(data) as UpstreamChunk;
      usage.observe(chunk);
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
