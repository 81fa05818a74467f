/**
 * What a verify answer becomes on the guarded request: `req.apiKey` with the shape the local guard
 * gives, as far as the answer tells (id, name, tenant, owner, scopes, metadata, expiry, request
 * windows, quota and budget), and the rate-limit headers the local guard sets.
 */
import type { Response } from 'express';
import type { ApiKeyRecord, RateLimits } from '../keys/key-types';
import type { AuthenticatedKey } from '../middleware/authenticated-key';
import { setOpenAiRequestHeaders } from '../middleware/openai-headers';
import { RequestKey } from '../middleware/request-key';
import type { VerifyAnswer, VerifyWindow } from './verify-answer';

const WINDOW_FIELDS: Record<string, keyof RateLimits> = { minute: 'perMinute', hour: 'perHour', day: 'perDay', month: 'perMonth' };
const WINDOW_SECONDS: Record<string, number> = { minute: 60, hour: 3_600, day: 86_400 };

/** The length of the current calendar month (UTC) in seconds: the month window's. */
function monthSeconds(now: number): number {
  const date = new Date(now);
  return (Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) - Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)) / 1000;
}

/** A key's request windows; a window the answer does not list is unlimited (Infinity). */
function rateLimitsOf(windows: readonly VerifyWindow[]): RateLimits {
  const limits: RateLimits = { perMinute: Infinity, perHour: Infinity, perDay: Infinity, perMonth: Infinity };
  for (const w of windows) {
    const field = WINDOW_FIELDS[w.window];
    if (field) limits[field] = w.limit;
  }
  return limits;
}

/**
 * The stored key as far as a verify answer describes it. What the answer does not carry (allowed
 * addresses, models and chatbots, tier, credentials, usage counters) holds neutral values: Keyward
 * checked those already, and its management API tells them to whoever needs them.
 */
function recordOf(key: NonNullable<VerifyAnswer['key']>, answer: VerifyAnswer, rateLimits: RateLimits): ApiKeyRecord {
  const finite = (n: number) => (Number.isFinite(n) ? n : null);
  return {
    id: key.id,
    tenantId: key.tenantId,
    ownerId: key.ownerId,
    name: key.name,
    description: '',
    scopes: key.scopes,
    tags: [],
    metadata: key.metadata,
    tier: 'free',
    rateLimits: { perMinute: finite(rateLimits.perMinute), perHour: finite(rateLimits.perHour), perDay: finite(rateLimits.perDay), perMonth: finite(rateLimits.perMonth) },
    allowedIps: [],
    allowedModels: [],
    allowedChatbots: [],
    usageLimit: answer.quota?.limit ?? null,
    usageLimitPeriod: answer.quota?.period ?? 'total',
    tokenLimits: { perMinute: null, perDay: null },
    maxConcurrentRequests: null,
    notifyOnNewIp: false,
    budget: answer.budget ? { limitCents: answer.budget.limitCents, period: answer.budget.period } : null,
    expiresAt: key.expiresAt ? new Date(key.expiresAt) : null,
    status: 'active',
    revokedAt: null,
    prefix: '',
    secretHash: '',
    hashVersion: 0,
    last4: '',
    previousSecretHash: null,
    previousHashVersion: null,
    previousSecretExpiresAt: null,
    usage: { requestsOk: 0, requestsFailed: 0, tokens: 0, spendMicroCents: 0, lastUsedAt: null },
    ledger: { budgetPeriodStart: null, budgetSpentMicroCents: 0, budgetCeilingMicroCents: 0, quotaCeiling: 0, quotaPeriodStart: null },
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };
}

/** `req.apiKey` for a valid answer (`reservedMicroCents`: the cost reserved for this request). */
export function remoteKey(answer: VerifyAnswer, reservedMicroCents: number): RequestKey {
  const key = answer.key as NonNullable<VerifyAnswer['key']>;
  const rateLimits = rateLimitsOf(answer.rateLimits);
  const record = recordOf(key, answer, rateLimits);
  const limits: AuthenticatedKey['limits'] = {
    rateLimits,
    usageLimit: record.usageLimit,
    budget: record.budget,
    allowedModels: [],
    allowedIps: [],
  };
  return new RequestKey(record, limits, reservedMicroCents);
}

/** The IETF `RateLimit` headers and OpenAI's `x-ratelimit-*-requests`, from the answer's windows. */
export function setRateLimitHeaders(res: Response, windows: readonly VerifyWindow[]): void {
  if (windows.length === 0) return;
  const policy = windows
    .map((w) => {
      const seconds = w.window === 'month' ? monthSeconds(Date.now()) : WINDOW_SECONDS[w.window];
      return seconds === undefined ? `"${w.window}";q=${w.limit}` : `"${w.window}";q=${w.limit};w=${seconds}`;
    })
    .join(', ');
  let tightest = windows[0];
  for (const w of windows) {
    if (w.remaining < tightest.remaining || (w.remaining === tightest.remaining && w.reset > tightest.reset)) tightest = w;
  }
  res.setHeader('RateLimit-Policy', policy);
  res.setHeader('RateLimit', `"${tightest.window}";r=${tightest.remaining};t=${tightest.reset}`);
  setOpenAiRequestHeaders(res, windows.map((w) => ({ limit: w.limit, remaining: w.remaining, resetMs: w.reset * 1000 })));
}
