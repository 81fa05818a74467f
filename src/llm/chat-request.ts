/**
 * The body of POST /api/v1/chat/completions (the OpenAI shape). Fields Keyward does not use are
 * kept and passed on to upstream providers.
 */
import { z } from 'zod';
import { AppError, type FieldIssue } from '../errors';
import { toFieldIssues } from '../lib/validation';

/** A content part: text parts need their text; other kinds (images, audio, ...) pass through. */
const contentPart = z
  .object({ type: z.string({ error: 'must be a string naming the part\'s kind, e.g. "text"' }), text: z.unknown().optional() }, { error: 'must be a content part object' })
  .passthrough()
  .superRefine((part, ctx) => {
    if (part.type === 'text' && typeof part.text !== 'string') ctx.addIssue({ code: 'custom', path: ['text'], message: 'must be a string' });
  });

const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function'], {
      error: 'must be one of system, developer, user, assistant, tool',
    }),
    content: z.union([z.string(), z.array(contentPart), z.null()], { error: 'must be a string or a list of content parts' }).optional(),
    name: z.string().optional(),
  })
  .passthrough();

/** The chat request as validated (other OpenAI fields pass through). */
export const chatRequestSchema = z
  .object({
    model: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
    messages: z.array(message, { error: 'is required and must be a list of messages' }).min(1, 'must hold at least one message'),
    max_tokens: z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').nullable().optional(),
    max_completion_tokens: z
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .nullable()
      .optional(),
    stream: z.boolean({ error: 'must be true or false' }).nullable().optional(),
    stream_options: z
      .object({ include_usage: z.boolean({ error: 'must be true or false' }).optional() })
      .passthrough()
      .nullable()
      .optional(),
    n: z.number().int().min(1).max(1, 'only 1 is supported').nullable().optional(),
  })
  .passthrough();

export type ChatRequest = z.output<typeof chatRequestSchema>;
export type ChatMessage = ChatRequest['messages'][number];

/** Validates a chat request; 400 `invalid_request` naming every bad field otherwise. */
export function parseChatRequest(body: unknown): ChatRequest {
  const result = chatRequestSchema.safeParse(body ?? {});
  if (result.success) return result.data;
  throw invalidRequest(toFieldIssues(result.error));
}

/** The /api 400 for a bad body (OpenAI's shape): the first problem in the message, every one in details. */
export function invalidRequest(details: FieldIssue[]): AppError {
  const first = details[0];
  return new AppError({
    status: 400,
    code: 'invalid_request',
    type: 'invalid_request_error',
    message: `Invalid ${first.field}: ${first.message}.${details.length > 1 ? ` (${details.length - 1} more problem${details.length > 2 ? 's' : ''} in details.)` : ''}`,
    details,
  });
}

/** The text of a message's content (text parts joined; other parts ignored). */
export function messageText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}

/** The completion budget a request asks for (max_completion_tokens wins), or undefined. */
export function requestedMaxTokens(request: { max_tokens?: number | null; max_completion_tokens?: number | null }): number | undefined {
  return request.max_completion_tokens ?? request.max_tokens ?? undefined;
}
