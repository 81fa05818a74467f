/**
 * Validation of key settings, shared by every way in (API, dashboard, CLI). Create and update
 * take the same fields; on update every field is optional and null clears a nullable one.
 */
import { z } from 'zod';
import { BUDGET_PERIODS, EXPIRY_FILTERS, type KeySettings, MAX_RATE_LIMITS, normalizeIpEntry, TIERS, USAGE_LIMIT_PERIODS } from '@keyward/guard';
import { isStorableText, jsonProblem, MAX_JSON_DEPTH } from '../lib/storable-json';
import { parseInput, wholeNumber } from '../lib/validation';

/** The largest value an INTEGER column holds (budgets in cents, request limits). */
export const MAX_INT32 = 2_147_483_647;
/** Highest tokens-per-window limit: 1e12 (a trillion), well inside a safe JS integer and a BIGINT. */
export const MAX_TOKEN_LIMIT = 1_000_000_000_000;
/** Highest concurrency limit a key may have. */
export const MAX_CONCURRENT_REQUESTS = 100_000;
const METADATA_MAX_BYTES = 4096;
const DAY_MS = 86_400_000;

const STORABLE = 'must not contain NUL characters or unpaired surrogates';

/** A string every database stores as given. */
const storableString = () => z.string({ error: 'must be a string' }).refine(isStorableText, STORABLE);

const text = (max: number) => storableString().trim().max(max, `must be at most ${max} characters`);


const uniqueList = <T extends z.ZodType<string>>(item: T, max: number) =>
  z
    .array(item, { error: 'must be a list' })
    .max(max, `must have at most ${max} entries`)
    .transform((list) => [...new Set(list as string[])]);

const scopeName = z
  .string({ error: 'must be a string' })
  .trim()
  .regex(/^[a-z][a-z0-9_.:-]{0,63}$/, 'must be lower-case letters, digits, and _ . : - (e.g. keys:read)');

const ipEntry = storableString().transform((value, ctx) => {
  const normalized = normalizeIpEntry(value);
  if (!normalized) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not an IPv4/IPv6 address or CIDR range` });
    return z.NEVER;
  }
  return normalized;
});

/**
 * A JSON object of at most 4 KB, nested at most MAX_JSON_DEPTH levels, with keys that neither start
 * with "$" nor name prototype properties (checked before the size: a hostile value is refused, not
 * serialized).
 */
const metadata = z
  .custom<Record<string, unknown>>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), {
    error: 'must be a JSON object',
  })
  .superRefine((value, ctx) => {
    const problem = jsonProblem(value);
    if (problem) {
      ctx.addIssue({ code: 'custom', path: problem.path ? problem.path.split('.') : [], message: problem.message });
      return;
    }
    if (Buffer.byteLength(JSON.stringify(value), 'utf8') > METADATA_MAX_BYTES) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${METADATA_MAX_BYTES} bytes as JSON` });
    }
  });

/** Documented for callers: how deep metadata may nest. */
export const METADATA_MAX_DEPTH = MAX_JSON_DEPTH;

const rateLimits = z.strictObject(
  {
    perMinute: wholeNumber(1, MAX_RATE_LIMITS.perMinute).nullable().optional(),
    perHour: wholeNumber(1, MAX_RATE_LIMITS.perHour).nullable().optional(),
    perDay: wholeNumber(1, MAX_RATE_LIMITS.perDay).nullable().optional(),
    perMonth: wholeNumber(1, MAX_RATE_LIMITS.perMonth).nullable().optional(),
  },
  { error: 'must be an object like {"perMinute": 60}' },
);

// null clears both windows; inside the object, null clears one window and an absent one stays.
const tokenLimits = z
  .strictObject(
    {
      perMinute: wholeNumber(1, MAX_TOKEN_LIMIT).nullable().optional(),
      perDay: wholeNumber(1, MAX_TOKEN_LIMIT).nullable().optional(),
    },
    { error: 'must be null or an object like {"perMinute": 2000, "perDay": 100000}' },
  )
  .nullable()
  .transform((value) => value ?? { perMinute: null, perDay: null });

/** A budget: `{limitCents, period}`, or null for none (keys, owners and tenants alike). */
export const budgetInput = z
  .strictObject(
    {
      limitCents: wholeNumber(0, MAX_INT32),
      period: z.enum(BUDGET_PERIODS, { error: 'must be "total" or "monthly"' }),
    },
    { error: 'must be null or an object like {"limitCents": 500, "period": "monthly"}' },
  )
  .nullable();

const fields = {
  name: text(100).min(1, 'must not be blank'),
  description: text(500),
  scopes: uniqueList(scopeName, 50).refine((list) => list.length > 0, 'must name at least one scope'),
  tags: uniqueList(text(50).min(1, 'must not be blank'), 20),
  metadata,
  tier: z.enum(TIERS, { error: 'must be one of free, pro, enterprise' }),
  rateLimits,
  tokenLimits,
  maxConcurrentRequests: wholeNumber(1, MAX_CONCURRENT_REQUESTS).nullable(),
  allowedIps: uniqueList(ipEntry, 100),
  allowedModels: uniqueList(text(100).min(1, 'must not be blank'), 100),
  allowedChatbots: uniqueList(text(100).min(1, 'must not be blank'), 100),
  usageLimit: wholeNumber(1, MAX_INT32).nullable(),
  // May change at any time. The count is not copied into the new period: the quota ledger keeps
  // the period it counts in (quotaPeriodStart) and restarts the count when the period changes.
  usageLimitPeriod: z.enum(USAGE_LIMIT_PERIODS, { error: 'must be one of total, daily, monthly' }),
  notifyOnNewIp: z.boolean({ error: 'must be true or false' }),
  budget: budgetInput,
  expiresAt: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z' })
    .nullable(),
  expiresInDays: wholeNumber(1, 365),
  ownerId: storableString().min(1, 'must not be empty').max(64, 'must be at most 64 characters').nullable(),
};

/** Every key setting, all optional (the body of create and update; create also needs `name`). */
export const keyInputSchema = z.strictObject(
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof typeof fields]: z.ZodOptional<(typeof fields)[K]>;
  },
  { error: 'must be a JSON object' },
);

type KeyInput = z.output<typeof keyInputSchema>;

function resolveExpiry(input: KeyInput, now: Date): Date | null | undefined {
  if (input.expiresInDays !== undefined) return new Date(now.getTime() + input.expiresInDays * DAY_MS);
  if (input.expiresAt === undefined) return undefined;
  return input.expiresAt === null ? null : new Date(input.expiresAt);
}

function validateAndResolve(input: unknown, now: Date, requireName: boolean) {
  const schema = keyInputSchema.superRefine((value, ctx) => {
    if (requireName && value.name === undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'is required' });
    if (value.expiresAt !== undefined && value.expiresInDays !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['expiresInDays'], message: 'cannot be combined with expiresAt' });
    }
    if (value.expiresAt && new Date(value.expiresAt).getTime() <= now.getTime()) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be in the future' });
    }
  });
  const value = parseInput(schema, input);
  return { value, expiresAt: resolveExpiry(value, now) };
}

/** Validates the settings of a new key and fills in defaults. */
export function parseCreateKeyInput(input: unknown, now: Date): KeySettings {
  const { value, expiresAt } = validateAndResolve(input, now, true);
  return {
    name: value.name as string,
    description: value.description ?? '',
    scopes: value.scopes ?? ['api'],
    tags: value.tags ?? [],
    metadata: value.metadata ?? {},
    tier: value.tier ?? 'free',
    rateLimits: {
      perMinute: value.rateLimits?.perMinute ?? null,
      perHour: value.rateLimits?.perHour ?? null,
      perDay: value.rateLimits?.perDay ?? null,
      perMonth: value.rateLimits?.perMonth ?? null,
    },
    allowedIps: value.allowedIps ?? [],
    allowedModels: value.allowedModels ?? [],
    allowedChatbots: value.allowedChatbots ?? [],
    tokenLimits: {
      perMinute: value.tokenLimits?.perMinute ?? null,
      perDay: value.tokenLimits?.perDay ?? null,
    },
    maxConcurrentRequests: value.maxConcurrentRequests ?? null,
    usageLimit: value.usageLimit ?? null,
    usageLimitPeriod: value.usageLimitPeriod ?? 'total',
    notifyOnNewIp: value.notifyOnNewIp ?? false,
    budget: value.budget ?? null,
    expiresAt: expiresAt ?? null,
    ownerId: value.ownerId ?? null,
  };
}

/** A partial update; absent fields stay as they are. */
export type KeySettingsPatch = Partial<Omit<KeySettings, 'rateLimits' | 'tokenLimits'>> & {
  rateLimits?: Partial<KeySettings['rateLimits']>;
  tokenLimits?: Partial<KeySettings['tokenLimits']>;
};

/** The windows present in a partial limits object (absent ones stay as they are). */
function presentWindows<T extends object>(limits: T): Partial<T> {
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Validates a partial update of a key's settings. */
export function parseUpdateKeyInput(input: unknown, now: Date): KeySettingsPatch {
  const { value, expiresAt } = validateAndResolve(input, now, false);
  const { expiresInDays: _days, expiresAt: _at, rateLimits: limits, tokenLimits: tokens, ...rest } = value;
  const patch: KeySettingsPatch = Object.fromEntries(
    Object.entries(rest).filter(([, v]) => v !== undefined),
  ) as KeySettingsPatch;
  if (expiresAt !== undefined) patch.expiresAt = expiresAt;
  if (limits) patch.rateLimits = presentWindows(limits);
  if (tokens) patch.tokenLimits = presentWindows(tokens);
  return patch;
}

const pageNumber = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(1_000_000, 'must be at most 1,000,000');

/** Page and size of a list: page from 1, size 1-100 (default 20). */
export const paginationSchema = z.object({
  page: pageNumber.default(1),
  size: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(20),
});

const optionalFilter = storableString()
  .trim()
  .max(200, 'must be at most 200 characters')
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const keyListQuerySchema = paginationSchema.extend({
  // An empty select in a filter form sends status=; that means "any status".
  status: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .enum(['active', 'inactive', 'revoked', 'expired'], { error: 'must be one of active, inactive, revoked, expired' })
      .optional(),
  ),
  search: optionalFilter,
  tag: optionalFilter,
  ownerId: optionalFilter,
  // 7d / 30d: not revoked, expiring within that many days; expired: the expiry date has passed; never: no expiry.
  expires: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.enum(EXPIRY_FILTERS, { error: 'must be one of 7d, 30d, expired, never' }).optional(),
  ),
  sort: z
    .enum(['createdAt', 'name', 'lastUsedAt', 'expiresAt'], { error: 'must be one of createdAt, name, lastUsedAt, expiresAt' })
    .optional(),
  order: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).optional(),
});

export type KeyListFilters = z.output<typeof keyListQuerySchema>;

/** Validates list filters as they arrive in a query string. */
export function parseKeyListQuery(input: unknown): KeyListFilters {
  return parseInput(keyListQuerySchema, input ?? {});
}

/** Longest rotation grace period: 7 days. */
export const MAX_GRACE_PERIOD_SECONDS = 604_800;

export const rotateSchema = z.strictObject(
  {
    gracePeriodSeconds: wholeNumber(0, MAX_GRACE_PERIOD_SECONDS),
  },
  { error: 'must be a JSON object like {"gracePeriodSeconds": 3600}' },
);

/** Validates rotation input: how long the old secret keeps working (0 s to 7 days). */
export function parseRotateInput(input: unknown): { gracePeriodSeconds: number } {
  return parseInput(rotateSchema, input ?? {});
}
