/**
 * What leaves the server about a key (the management API's `Key`). The zod schema is the
 * contract: the presenter's type comes from it and the OpenAPI document is generated from it.
 * Never the secret, its hash, or ledger internals.
 */
import { z } from 'zod';
import { type ApiKeyRecord, BUDGET_PERIODS, displayPrefix, displayStatus, effectiveRateLimits, microCentsToCents, TIERS, USAGE_LIMIT_PERIODS } from '@keyward/guard';

const isoDate = z.iso.datetime({ offset: true });

export const keySchema = z
  .object({
    id: z.string().describe('Public id: the part of the key after the prefix; used in every key route.'),
    name: z.string(),
    description: z.string(),
    prefix: z.string().describe('Display form, e.g. kw_AbCd1234EfGh…'),
    last4: z.string(),
    status: z.enum(['active', 'inactive', 'revoked', 'expired']),
    scopes: z.array(z.string()),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    tier: z.enum(TIERS),
    rateLimits: z
      .object({ perMinute: z.number().int(), perHour: z.number().int(), perDay: z.number().int(), perMonth: z.number().int() })
      .describe('Effective limits: the key\'s overrides, else its tier\'s defaults.'),
    tokenLimits: z
      .object({ perMinute: z.number().int().nullable(), perDay: z.number().int().nullable() })
      .describe('Tokens (prompt + completion) per minute and per UTC day; null: no such limit.'),
    maxConcurrentRequests: z
      .number()
      .int()
      .nullable()
      .describe('Requests the key may have in flight at once; null: no limit.'),
    allowedIps: z.array(z.string()),
    allowedModels: z.array(z.string()),
    allowedChatbots: z.array(z.string()),
    usageLimit: z.number().int().nullable().describe('Request quota per usageLimitPeriod; null: unlimited.'),
    usageLimitPeriod: z
      .enum(USAGE_LIMIT_PERIODS)
      .describe('What usageLimit counts: the key\'s lifetime (total), or each UTC day or month (restarting at 00:00 UTC).'),
    notifyOnNewIp: z
      .boolean()
      .describe('Whether the key.new_ip webhook alert fires when the key is used from an address it was not used from before.'),
    budget: z.object({ limitCents: z.number().int(), period: z.enum(BUDGET_PERIODS) }).nullable(),
    expiresAt: isoDate.nullable(),
    createdAt: isoDate,
    updatedAt: isoDate,
    lastUsedAt: isoDate.nullable(),
    revokedAt: isoDate.nullable(),
    ownerId: z.string().nullable(),
    tenantId: z.string(),
    totalRequests: z.number().int(),
    totalTokens: z.number().int(),
    totalCostCents: z.number(),
  });

export type KeyView = z.infer<typeof keySchema>;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** The API view of a stored key at `now`. */
export function presentKey(key: ApiKeyRecord, now = new Date()): KeyView {
  return {
    id: key.id,
    name: key.name,
    description: key.description,
    prefix: displayPrefix(key.prefix, key.id),
    last4: key.last4,
    status: displayStatus(key, now),
    scopes: key.scopes,
    tags: key.tags,
    metadata: key.metadata,
    tier: key.tier,
    rateLimits: effectiveRateLimits(key.tier, key.rateLimits),
    allowedIps: key.allowedIps,
    allowedModels: key.allowedModels,
    allowedChatbots: key.allowedChatbots,
    tokenLimits: key.tokenLimits,
    maxConcurrentRequests: key.maxConcurrentRequests,
    usageLimit: key.usageLimit,
    usageLimitPeriod: key.usageLimitPeriod,
    notifyOnNewIp: key.notifyOnNewIp,
    budget: key.budget,
    expiresAt: iso(key.expiresAt),
    createdAt: key.createdAt.toISOString(),
    updatedAt: key.updatedAt.toISOString(),
    lastUsedAt: iso(key.usage.lastUsedAt),
    revokedAt: iso(key.revokedAt),
    ownerId: key.ownerId,
    tenantId: key.tenantId,
    totalRequests: key.usage.requestsOk + key.usage.requestsFailed,
    totalTokens: key.usage.tokens,
    totalCostCents: microCentsToCents(key.usage.spendMicroCents),
  };
}

export const issuedKeySchema = z.object({ key: z.string().describe('The secret. Shown once: store it now.'), apiKey: keySchema });

/** A page of a list: `{data, total, page, size}`. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), total: z.number().int(), page: z.number().int(), size: z.number().int() });
}
