/**
 * Serves a Responses API request through the chat providers: the local provider's answer
 * (localAnswer) or the upstream's /chat/completions (callUpstream), metered by the same rules as
 * chat (UsageMeter, StreamUsage), then written as a `response` object or its event stream.
 */
import type { Response } from 'express';
import type { CatalogModel, UpstreamTarget } from '../config/model-catalog';
import { AppError } from '../errors';
import type { AuthenticatedKey } from '@keyward/guard';
import { localAnswer } from './local-provider';
import { promptTokensEstimate, UsageMeter } from './pricing';
import type { ResponsesPlan } from './responses-plan';
import { ResponseDraft, ResponseEvents, responsesUsage, statusOf } from './responses-output';
import { EventStream, readEventData } from './sse';
import { callUpstream, meterCompletion, StreamUsage, type UpstreamChunk, type UpstreamCompletion } from './upstream-provider';

export interface ServeResponseInput {
  plan: ResponsesPlan;
  apiKey: AuthenticatedKey;
  upstreamTimeoutMs: number;
  /** A stream whose client reads nothing for this long is ended. */
  streamIdleMs: number;
}

/** The answer's text as it is produced; the generator returns the chat finish reason. */
type TextSource = AsyncGenerator<string, string | null, void>;

/** The local provider's words, each counted once the client has been sent it. */
async function* localText(plan: ResponsesPlan, meter: UsageMeter): TextSource {
  const { words, finishReason } = localAnswer(plan.request, plan.model, plan.maxTokens);
  meter.add(promptTokensEstimate(plan.request.messages), 0);
  for (const [i, word] of words.entries()) {
    yield i === 0 ? word : ` ${word}`;
    meter.add(0, 1);
    // Yield between words so other requests (and client disconnects) are served.
    if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
  }
  return finishReason;
}

/** The upstream's answer: one piece when not streamed, else its deltas as they arrive. */
async function* upstreamText(input: ServeResponseInput, meter: UsageMeter): TextSource {
  const { plan, apiKey } = input;
  const target = { request: plan.request, model: plan.model as CatalogModel & { upstream: UpstreamTarget }, maxTokens: plan.maxTokens, apiKey, timeoutMs: input.upstreamTimeoutMs, streamIdleMs: input.streamIdleMs };
  const response = await callUpstream(target);
  if (plan.request.stream !== true) {
    const completion = (await response.json()) as UpstreamCompletion;
    meterCompletion(meter, completion, plan.request, plan.maxTokens);
    const content = completion.choices?.[0]?.message?.content;
    yield typeof content === 'string' ? content : '';
    return completion.choices?.[0]?.finish_reason ?? null;
  }
  const usage = new StreamUsage(meter, plan.request, plan.maxTokens);
  let finishReason: string | null = null;
  for await (const data of readEventData(response.body as ReadableStream<Uint8Array>)) {
    if (data === '[DONE]') break;
    const chunk = JSON.parse(data) as UpstreamChunk;
    usage.observe(chunk);
    const choice = chunk.choices?.[0];
    if (choice?.finish_reason) finishReason = choice.finish_reason;
    if (choice?.delta?.content) yield choice.delta.content;
  }
  return finishReason;
}

/** Answers the request as one `response` object, or as its event stream (`stream: true`). */
export async function serveResponse(res: Response, input: ServeResponseInput): Promise<void> {
  const { plan, apiKey } = input;
  const meter = new UsageMeter(apiKey, plan.model);
  const source = plan.model.upstream ? upstreamText(input, meter) : localText(plan, meter);
  const draft = new ResponseDraft(plan.input, plan.model.id);
  const usage = () => responsesUsage(meter.promptTokens, meter.completionTokens);

  if (plan.request.stream !== true) {
    let text = '';
    let next = await source.next();
    while (!next.done) {
      text += next.value;
      next = await source.next();
    }
    res.json(draft.response(statusOf(next.value), { text, usage: usage() }));
    return;
  }

  // The first piece is awaited before any header is sent, so an upstream that refuses or cannot
  // be reached still answers with its status (502, 504, 400...) instead of a broken stream.
  let next = await source.next();
  const stream = new EventStream(res, input.streamIdleMs);
  stream.start();
  const events = new ResponseEvents(stream, draft);
  try {
    if (!(await events.open())) return void (await source.return(null));
    while (!next.done) {
      if (!(await events.delta(next.value))) return void (await source.return(null));
      next = await source.next();
    }
    await events.close(next.value, usage());
  } catch (error) {
    // The upstream broke off or timed out after the stream started (the client leaving aborts it
    // too: then nobody is listening). Usage counted so far stands.
    if (!apiKey.signal.aborted) {
      const message = error instanceof AppError ? error.message : 'The upstream provider broke off the answer.';
      await events.fail('upstream_error', message, usage());
    }
  }
  stream.end();
}
