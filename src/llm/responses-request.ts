/**
 * The body of POST /api/v1/responses (OpenAI's Responses API), and its translation to a chat
 * request: every model is served through the chat plan and providers, so the Responses API is
 * guarded, priced and metered exactly like chat. Keyward keeps no conversation state, so
 * `previous_response_id` and server-side tools are refused by name rather than ignored.
 */
import { z } from 'zod';
import type { FieldIssue } from '../errors';
import { toFieldIssues } from '../lib/validation';
import { type ChatRequest, invalidRequest } from './chat-request';

const TEXT_PARTS = ['input_text', 'output_text'];

/** A content part: text (`input_text`, or `output_text` in an earlier assistant turn) or an image. */
const inputPart = z
  .object({ type: z.string({ error: 'must be a string naming the part\'s kind, e.g. "input_text"' }), text: z.unknown().optional() }, { error: 'must be a content part object' })
  .passthrough()
  .superRefine((part, ctx) => {
    if (TEXT_PARTS.includes(part.type)) {
      if (typeof part.text !== 'string') ctx.addIssue({ code: 'custom', path: ['text'], message: 'must be a string' });
    } else if (part.type === 'input_image') {
      if (typeof part.image_url !== 'string') ctx.addIssue({ code: 'custom', path: ['image_url'], message: 'must be a URL (or a data: URL)' });
    } else {
      ctx.addIssue({ code: 'custom', path: ['type'], message: 'must be input_text, output_text or input_image' });
    }
  });

const inputMessage = z
  .object(
    {
      type: z.literal('message', { error: 'must be "message" (the only input item Keyward serves)' }).optional(),
      role: z.enum(['user', 'assistant', 'system', 'developer'], { error: 'must be one of user, assistant, system, developer' }),
      content: z.union([z.string(), z.array(inputPart)], { error: 'must be a string or a list of content parts' }),
    },
    { error: 'must be a message object with role and content' },
  )
  .passthrough();

const inputItems = z.array(inputMessage).min(1, 'must hold at least one message');

/** The Responses request as validated (other OpenAI fields pass through and are ignored). */
export const responsesRequestSchema = z
  .object({
    model: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
    input: z.union([z.string(), inputItems], { error: 'is required and must be a string or a list of messages' }),
    instructions: z.string({ error: 'must be a string' }).nullable().optional(),
    max_output_tokens: z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').nullable().optional(),
    stream: z.boolean({ error: 'must be true or false' }).nullable().optional(),
    temperature: z.number({ error: 'must be a number' }).min(0, 'must be at least 0').max(2, 'must be at most 2').nullable().optional(),
    top_p: z.number({ error: 'must be a number' }).min(0, 'must be at least 0').max(1, 'must be at most 1').nullable().optional(),
    user: z.string({ error: 'must be a string' }).optional(),
    previous_response_id: z.null({ error: 'is not supported: Keyward stores no responses; send the whole conversation in input' }).optional(),
    tools: z.array(z.unknown()).max(0, 'are not supported by Keyward\'s Responses API; use POST /chat/completions for tools').nullable().optional(),
  })
  .passthrough();

export type ResponsesRequest = z.output<typeof responsesRequestSchema>;

/** zod reports a bad list inside the `input` union as one vague issue: name the bad item instead. */
function inputIssues(body: unknown, issues: FieldIssue[]): FieldIssue[] {
  const input = (body as { input?: unknown } | null)?.input;
  if (!Array.isArray(input)) return issues;
  const items = inputItems.safeParse(input);
  if (items.success) return issues;
  return [...toFieldIssues(items.error, 'input'), ...issues.filter((issue) => issue.field !== 'input')];
}

/** Validates a Responses request; 400 `invalid_request` naming every bad field otherwise. */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  const result = responsesRequestSchema.safeParse(body ?? {});
  if (result.success) return result.data;
  throw invalidRequest(inputIssues(body, toFieldIssues(result.error)));
}

type ChatContent = ChatRequest['messages'][number]['content'];

/** A message's content as chat content parts (text parts, and images as `image_url`). */
function chatParts(content: string | z.output<typeof inputPart>[]): ChatContent {
  if (typeof content === 'string') return content;
  return content.map((part) =>
    part.type === 'input_image'
      ? { type: 'image_url', image_url: { url: part.image_url as string, ...(part.detail ? { detail: part.detail } : {}) } }
      : { type: 'text', text: part.text as string },
  );
}

/**
 * The chat request that serves a Responses request: `instructions` become the first (system)
 * message, `input` the messages, `max_output_tokens` the completion limit; sampling fields carry over.
 */
export function toChatRequest(request: ResponsesRequest): ChatRequest {
  const messages: ChatRequest['messages'] = [];
  if (request.instructions) messages.push({ role: 'system', content: request.instructions });
  if (typeof request.input === 'string') {
    messages.push({ role: 'user', content: request.input });
  } else {
    for (const item of request.input) messages.push({ role: item.role, content: chatParts(item.content) });
  }
  const chat: ChatRequest = { model: request.model, messages, stream: request.stream === true };
  if (request.max_output_tokens != null) chat.max_tokens = request.max_output_tokens;
  if (request.temperature != null) chat.temperature = request.temperature;
  if (request.top_p != null) chat.top_p = request.top_p;
  if (request.user !== undefined) chat.user = request.user;
  return chat;
}
