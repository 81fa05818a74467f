/**
 * Keyward's built-in model provider: deterministic answers computed locally, so the API, the SDK
 * and the budgets can be used and tested with no network. The answer restates the last user
 * message; each word is one completion token, and the completion stops at the token limit.
 */
import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import type { CatalogModel } from '../config/model-catalog';
import type { AuthenticatedKey } from '@keyward/guard';
import { type ChatRequest, messageText } from './chat-request';
import { tokenUsage } from './completion-types';
import { promptTokensEstimate, UsageMeter } from './pricing';
import { EventStream } from './sse';

export interface LocalChatInput {
  request: ChatRequest;
  model: CatalogModel;
  maxTokens: number;
  apiKey: AuthenticatedKey;
  /** A stream whose client reads nothing for this long is ended. */
  streamIdleMs: number;
}

/** The words of the deterministic answer, cut at `maxTokens`. */
export function localAnswer(request: ChatRequest, model: CatalogModel, maxTokens: number) {
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  const said = messageText(lastUser?.content ?? '').trim().replace(/\s+/g, ' ');
  const words = `This is ${model.id} answering. You said: ${said || '(nothing)'}`.split(' ');
  const truncated = words.length > maxTokens;
  return { words: truncated ? words.slice(0, maxTokens) : words, finishReason: truncated ? 'length' : 'stop' };
}

const completionId = () => `chatcmpl-${randomBytes(12).toString('base64url')}`;

/** Answers a chat request locally, as one JSON completion or as a stream of chunks. */
export async function localChat(res: Response, input: LocalChatInput): Promise<void> {
  const { request, model, maxTokens, apiKey } = input;
  const promptTokens = promptTokensEstimate(request.messages);
  const { words, finishReason } = localAnswer(request, model, maxTokens);
  const id = completionId();
  const created = Math.floor(Date.now() / 1000);
  const meter = new UsageMeter(apiKey, model);

  if (!request.stream) {
    meter.add(promptTokens, words.length);
    res.json({
      id,
      object: 'chat.completion',
      created,
      model: model.id,
      choices: [{ index: 0, message: { role: 'assistant', content: words.join(' '), refusal: null }, logprobs: null, finish_reason: finishReason }],
      usage: tokenUsage(promptTokens, words.length),
      system_fingerprint: 'keyward-local',
    });
    return;
  }

  const includeUsage = request.stream_options?.include_usage === true;
  const chunk = (delta: object, finish: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: model.id,
    system_fingerprint: 'keyward-local',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const stream = new EventStream(res, input.streamIdleMs);
  stream.start();
  // Usage is counted as it is produced, so a client that leaves early pays for what it got.
  meter.add(promptTokens, 0);
  if (!(await stream.send(chunk({ role: 'assistant', content: '' }, null)))) return;
  for (const [i, word] of words.entries()) {
    if (!(await stream.send(chunk({ content: i === 0 ? word : ` ${word}` }, null)))) return;
    meter.add(0, 1);
    // Yield between chunks so other requests (and client disconnects) are served.
    if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
  }
  if (!(await stream.send(chunk({}, finishReason)))) return;
  if (includeUsage) {
    const usage = tokenUsage(meter.promptTokens, meter.completionTokens);
    const sent = await stream.send({ id, object: 'chat.completion.chunk', created, model: model.id, system_fingerprint: 'keyward-local', choices: [], usage });
    if (!sent) return;
  }
  if (!(await stream.send('[DONE]'))) return;
  stream.end();
}
