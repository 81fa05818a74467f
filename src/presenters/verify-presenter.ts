/** Response shapes of the verify API (for the OpenAPI document and its tests). */
import { z } from 'zod';
import { keyInfoSchema } from './openai-schemas';

export const verifyResultSchema = z.object({
  valid: z.boolean(),
  code: z.string().describe('`ok`, or the code /api would answer (`invalid_api_key`, `key_revoked`, `ip_not_allowed`, `rate_limited`, `budget_exceeded`, ...).'),
  message: z.string().nullable(),
  level: z.enum(['key', 'owner', 'tenant']).nullable().describe('Where a limit refused.'),
  key: z
    .object({
      id: z.string(),
      name: z.string(),
      tenantId: z.string(),
      ownerId: z.string().nullable(),
      scopes: z.array(z.string()),
      metadata: z.record(z.string(), z.unknown()),
      expiresAt: z.iso.datetime({ offset: true }).nullable(),
    })
    .nullable()
    .describe('The key, when it was identified (null for an invalid key or another tenant\'s).'),
  rateLimits: keyInfoSchema.shape.rateLimits,
  quota: keyInfoSchema.shape.quota,
  budget: keyInfoSchema.shape.budget,
  retryAfter: z.number().int().nullable().describe('On a refusal, the seconds /api would answer in Retry-After (null where waiting does not help soon, e.g. a used-up total quota or budget).'),
  reservationId: z.string().optional().describe('Set when cost, tokens or a concurrency slot are held: settle with POST /api/v1/keys/verify/{reservationId}/settle.'),
  expiresAt: z.iso.datetime({ offset: true }).optional().describe('When an unsettled reservation is charged in full.'),
});

export const settleResultSchema = z.object({ settled: z.literal(true), costMicroCents: z.number().int(), tokens: z.number().int() });
