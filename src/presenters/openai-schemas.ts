/** Response shapes of the OpenAI-compatible routes, for the OpenAPI document and its tests. */
import { z } from 'zod';
import { budgetStatusSchema } from './usage-presenter';

const usage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });

/** OpenAI's model object (GET /models/{id}, and each entry of GET /models). */
export const modelSchema = z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() });

export const modelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(modelSchema),
});

export const chatCompletionSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z
        .object({
          index: z.number().int(),
          message: z.object({ role: z.literal('assistant'), content: z.string().nullable() }).passthrough(),
          finish_reason: z.string().nullable(),
        })
        .passthrough(),
    ),
    usage,
  })
  .passthrough();

export const chatCompletionChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.number().int(), delta: z.object({}).passthrough(), finish_reason: z.string().nullable() }).passthrough()),
    usage: usage.nullable().optional(),
  })
  .passthrough()
  .describe('One server-sent event (`data: <chunk>`); the stream ends with `data: [DONE]`.');

const windowStatus = (windows: [string, ...string[]]) =>
  z.object({
    window: z.enum(windows),
    limit: z.number().int(),
    remaining: z.number().int(),
    reset: z.number().int().describe('Seconds until the window resets.'),
    resetsAt: z.iso.datetime({ offset: true }),
  });

export const keyInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  tenant: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  scopes: z.array(z.string()),
  expiresAt: z.iso.datetime({ offset: true }).nullable(),
  allowedIps: z.array(z.string()),
  allowedModels: z.array(z.string()),
  rateLimits: z.array(windowStatus(['minute', 'hour', 'day', 'month'])),
  tokenLimits: z.array(windowStatus(['minute', 'day'])).describe('The key\'s token windows (tokens per minute and per UTC day).'),
  quota: z
    .object({
      used: z.number().int(),
      limit: z.number().int(),
      remaining: z.number().int(),
      period: z.enum(['total', 'daily', 'monthly']),
      resetsAt: z.iso.datetime({ offset: true }).nullable().describe('When a daily or monthly quota restarts (00:00 UTC); null for a total quota.'),
    })
    .nullable(),
  budget: budgetStatusSchema,
  concurrency: z.object({ limit: z.number().int(), inFlight: z.number().int() }).nullable().describe('maxConcurrentRequests and the requests in progress now.'),
  levels: z
    .array(
      z.object({
        level: z.enum(['owner', 'tenant']),
        rateLimits: z.array(windowStatus(['minute', 'hour', 'day', 'month'])),
        tokenLimits: z.array(windowStatus(['minute', 'day'])),
        budget: budgetStatusSchema,
      }),
    )
    .describe('The limits above the key (its owner\'s and its tenant\'s) with what is left: a request must fit every level.'),
});

export const statsSchema = z.object({
  totalKeys: z.number().int(),
  activeKeys: z.number().int(),
  inactiveKeys: z.number().int(),
  revokedKeys: z.number().int(),
  expiredKeys: z.number().int(),
});

export const errorSchema = z.object({
  error: z
    .object({
      code: z.string().describe('Stable, machine-readable: see the README\'s tables.'),
      message: z.string(),
      type: z.string(),
      details: z.array(z.object({ field: z.string(), message: z.string() })).optional().describe('Every bad field (validation errors).'),
    })
    .passthrough(),
});

const outputText = z.object({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()) }).passthrough();

/** OpenAI's `response` object (POST /responses; also inside its stream's events). */
export const responseSchema = z
  .object({
    id: z.string(),
    object: z.literal('response'),
    created_at: z.number().int(),
    status: z.enum(['completed', 'incomplete', 'in_progress', 'failed']),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    incomplete_details: z.object({ reason: z.string() }).nullable(),
    instructions: z.string().nullable(),
    max_output_tokens: z.number().int().nullable(),
    model: z.string(),
    output: z.array(
      z
        .object({
          id: z.string(),
          type: z.literal('message'),
          status: z.enum(['completed', 'incomplete', 'in_progress']),
          role: z.literal('assistant'),
          content: z.array(outputText),
        })
        .passthrough(),
    ),
    usage: z
      .object({
        input_tokens: z.number().int(),
        input_tokens_details: z.object({ cached_tokens: z.number().int() }),
        output_tokens: z.number().int(),
        output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
        total_tokens: z.number().int(),
      })
      .nullable(),
  })
  .passthrough();
