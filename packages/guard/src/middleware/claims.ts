/**
 * What a request claims from the counters once it passed every other check: on its key (quota,
 * budget, token windows, requests in flight) and on the levels above it (the owner's and the
 * tenant's budgets, request windows and token windows). The guard reserves every claim in one
 * step (LimitLedger.reserveAll: all or none), so a refusal at one level holds nothing at another.
 */
import type { LevelLimits, LimitLevel } from '../governance/level-types';
import type { ApiKeyRecord, UsageLimitPeriod } from '../keys/key-types';
import { budgetBaseline } from '../limits/key-baselines';
import type { HeaderSink } from './attempt';
import type { CounterBaseline, CounterKind, CounterUsage, ReserveRequest } from '../limits/ledger';
import { budgetPeriodStart, FIXED_WINDOWS, limitPeriodEnd, limitPeriodStart } from '../limits/periods';
import { type OpenAiWindow, setOpenAiTokenHeaders } from './openai-headers';

/** The owner's or tenant's limits for a key, with what the database knows of its budget counter. */
export interface LevelEntry {
  level: Exclude<LimitLevel, 'key'>;
  /** The level's counter subject: `owner:<tenantId>:<userId>` or `tenant:<tenantId>`. */
  subject: string;
  /** Shown in refusal messages, e.g. "tenant" or "owner ana@example.com". */
  label: string;
  limits: LevelLimits;
  /** The durable budget ceiling and its period (used counts start from it). */
  budgetBaseline: CounterBaseline;
}

/** Where the guard finds the levels above a key (the app reads them from its database, cached). */
export interface LevelSource {
  levelsOf(key: ApiKeyRecord): LevelEntry[] | Promise<LevelEntry[]>;
}

/** When a claim is settled: counted at admission (nothing to settle), or when the response closes. */
export type Settles = 'now' | 'cost' | 'tokens' | 'release';

/** One counter a request claims, with what a refusal of it means. */
export interface Claim {
  level: LimitLevel;
  request: ReserveRequest;
  settles: Settles;
  /** The refusal's code, message and Retry-After when this claim does not fit. */
  refusal(now: number): { code: 'rate_limited' | 'quota_exceeded' | 'budget_exceeded'; message: string; retryAfterSeconds: number | null };
}

/** What the request may use at most: its cost (micro-cents) and its tokens (prompt bound plus completion). */
export interface RequestBounds {
  costMicroCents: number;
  tokens: number;
}

const NONE: CounterBaseline = { used: 0, ceiling: 0, periodStart: -1 };

const WINDOWS = [
  { field: 'perMinute', kind: 'requests:minute', name: 'minute', ...FIXED_WINDOWS.minute },
  { field: 'perHour', kind: 'requests:hour', name: 'hour', ...FIXED_WINDOWS.hour },
  { field: 'perDay', kind: 'requests:day', name: 'day', ...FIXED_WINDOWS.day },
  { field: 'perMonth', kind: 'requests:month', name: 'month', ...FIXED_WINDOWS.month },
] as const;

const TOKEN_WINDOWS = [
  { field: 'perMinute', kind: 'tokens:minute', name: 'minute', ...FIXED_WINDOWS.minute },
  { field: 'perDay', kind: 'tokens:day', name: 'day', ...FIXED_WINDOWS.day },
] as const;

const secondsUntil = (end: number, now: number) => Math.max(1, Math.ceil((end - now) / 1000));
const count = (n: number) => n.toLocaleString('en-US');

/** Start of a quota period: 0 for a total quota, else 00:00 UTC of the day or the 1st of the month. */
export const quotaPeriodStart = (period: UsageLimitPeriod, now: number): number => limitPeriodStart(period, now);

/** When a quota period ends (ms), or null for a total quota. */
export const quotaPeriodEnd = (period: UsageLimitPeriod, now: number): number | null => limitPeriodEnd(period, now);

/** What the database knows of a key's quota counter for the period starting at `periodStart`. */
export function keyQuotaBaseline(key: ApiKeyRecord, periodStart: number): CounterBaseline {
  if (key.usageLimitPeriod === 'total') {
    return { used: key.usage.requestsOk + key.usage.requestsFailed, ceiling: key.ledger.quotaCeiling, periodStart: 0 };
  }
  // A periodic quota starts from its durable ceiling: never below what the period really used.
  const stored = key.ledger.quotaPeriodStart?.getTime() ?? -1;
  return { used: 0, ceiling: stored === periodStart ? key.ledger.quotaCeiling : 0, periodStart: stored };
}

/** Token-window claims of one subject. */
function tokenClaims(level: LimitLevel, subject: string, who: string, limits: LevelLimits['tokenLimits'], tokens: number, now: number): Claim[] {
  const claims: Claim[] = [];
  // A request that uses no tokens (a models list) does not touch token windows.
  if (tokens <= 0) return claims;
  for (const w of TOKEN_WINDOWS) {
    const limit = limits[w.field];
    if (limit === null) continue;
    const periodStart = w.start(now);
    claims.push({
      level,
      request: { keyId: subject, kind: w.kind, periodStart, limit, amount: tokens, baseline: NONE },
      settles: 'tokens',
      refusal: (at) => ({
        code: 'rate_limited',
        message:
          tokens > limit
            ? `This request may use up to ${count(tokens)} tokens, more than ${who}'s limit of ${count(limit)} tokens per ${w.name}: lower max_tokens or shorten the prompt.`
            : `Token limit reached (${who}: ${count(limit)} tokens per ${w.name}; this request may use up to ${count(tokens)}). Retry after ${secondsUntil(w.end(periodStart), at)} s.`,
        retryAfterSeconds: secondsUntil(w.end(periodStart), at),
      }),
    });
  }
  return claims;
}

/** The key's own claims: quota, budget, token windows, requests in flight. */
export function keyClaims(key: ApiKeyRecord, bounds: RequestBounds, now: number): Claim[] {
  const claims: Claim[] = [];
  if (key.maxConcurrentRequests !== null) {
    const limit = key.maxConcurrentRequests;
    claims.push({
      level: 'key',
      request: { keyId: key.id, kind: 'concurrent', periodStart: 0, limit, amount: 1, baseline: NONE },
      settles: 'release',
      refusal: () => ({
        code: 'rate_limited',
        message: `This API key already has ${count(limit)} request${limit === 1 ? '' : 's'} in progress, its limit. Retry when one has finished.`,
        retryAfterSeconds: 1,
      }),
    });
  }
  if (key.usageLimit !== null) {
    const limit = key.usageLimit;
    const period = key.usageLimitPeriod;
    const periodStart = quotaPeriodStart(period, now);
    claims.push({
      level: 'key',
      request: { keyId: key.id, kind: 'quota', periodStart, limit, amount: 1, baseline: keyQuotaBaseline(key, periodStart), commit: true },
      settles: 'now',
      refusal: (at) => {
        const end = quotaPeriodEnd(period, periodStart);
        if (end === null) return { code: 'quota_exceeded', message: `This API key has used its quota of ${count(limit)} requests.`, retryAfterSeconds: null };
        const label = period === 'daily' ? 'daily' : 'monthly';
        return {
          code: 'quota_exceeded',
          message: `This API key has used its ${label} quota of ${count(limit)} requests. It restarts at ${new Date(end).toISOString()}.`,
          retryAfterSeconds: secondsUntil(end, at),
        };
      },
    });
  }
  if (key.budget && bounds.costMicroCents > 0) {
    const budget = key.budget;
    claims.push({
      level: 'key',
      request: {
        keyId: key.id,
        kind: 'budget',
        periodStart: budgetPeriodStart(budget.period, now),
        limit: budget.limitCents * 1_000_000,
        amount: bounds.costMicroCents,
        baseline: budgetBaseline(key),
      },
      settles: 'cost',
      refusal: () => ({ code: 'budget_exceeded', message: `This request could cost more than the API key's remaining ${budget.period} budget.`, retryAfterSeconds: null }),
    });
  }
  claims.push(...tokenClaims('key', key.id, 'the API key', key.tokenLimits, bounds.tokens, now));
  return claims;
}

/** An owner's or tenant's claims: budget, request windows, token windows. */
export function levelClaims(entry: LevelEntry, bounds: RequestBounds, now: number): Claim[] {
  const { level, subject, label, limits } = entry;
  const claims: Claim[] = [];
  if (limits.budget && bounds.costMicroCents > 0) {
    const budget = limits.budget;
    claims.push({
      level,
      request: {
        keyId: subject,
        kind: 'budget',
        periodStart: budgetPeriodStart(budget.period, now),
        limit: budget.limitCents * 1_000_000,
        amount: bounds.costMicroCents,
        baseline: entry.budgetBaseline,
      },
      settles: 'cost',
      refusal: () => ({ code: 'budget_exceeded', message: `This request could cost more than the ${label}'s remaining ${budget.period} budget.`, retryAfterSeconds: null }),
    });
  }
  for (const w of WINDOWS) {
    const limit = limits.rateLimits[w.field];
    if (limit === null) continue;
    const periodStart = w.start(now);
    claims.push({
      level,
      request: { keyId: subject, kind: w.kind as CounterKind, periodStart, limit, amount: 1, baseline: NONE, commit: true },
      settles: 'now',
      refusal: (at) => ({
        code: 'rate_limited',
        message: `Rate limit reached (${label}: ${count(limit)} requests per ${w.name}). Retry after ${secondsUntil(w.end(periodStart), at)} s.`,
        retryAfterSeconds: secondsUntil(w.end(periodStart), at),
      }),
    });
  }
  claims.push(...tokenClaims(level, subject, `the ${label}`, limits.tokenLimits, bounds.tokens, now));
  return claims;
}

/** What a claim's reservation is settled with when the request ends (null: nothing to settle). */
export function settledAmount(settles: Settles, used: { tokens: number; costMicroCents: number }): number | null {
  switch (settles) {
    case 'now':
      return null;
    case 'cost':
      return used.costMicroCents;
    case 'tokens':
      return used.tokens;
    case 'release':
      return 0;
  }
}

/** The key's token windows in RateLimit-Policy / RateLimit, beside its request windows. */
export function setTokenWindowHeaders(res: HeaderSink, claims: readonly Claim[], counters: readonly CounterUsage[], now: number): void {
  let policy = '';
  let current = '';
  const windows: OpenAiWindow[] = [];
  claims.forEach((claim, i) => {
    const { kind, limit, periodStart } = claim.request;
    if (claim.level !== 'key' || (kind !== 'tokens:minute' && kind !== 'tokens:day')) return;
    const name = kind === 'tokens:minute' ? 'tokens-minute' : 'tokens-day';
    const seconds = kind === 'tokens:minute' ? 60 : 86_400;
    const remaining = Math.max(0, limit - counters[i].used - counters[i].reserved);
    policy += `, "${name}";q=${limit};w=${seconds}`;
    current += `, "${name}";r=${remaining};t=${Math.max(0, Math.ceil((periodStart + seconds * 1000 - now) / 1000))}`;
    windows.push({ limit, remaining, resetMs: Math.max(0, periodStart + seconds * 1000 - now) });
  });
  if (policy === '') return;
  setOpenAiTokenHeaders(res, windows);
  const append = (header: string, extra: string) => {
    const existing = res.getHeader(header);
    res.setHeader(header, existing ? `${String(existing)}${extra}` : extra.slice(2));
  };
  append('RateLimit-Policy', policy);
  append('RateLimit', current);
}

