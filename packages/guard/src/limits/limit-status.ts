import type { BudgetView } from '../governance/level-types';
import type { ApiKeyRecord, BudgetPeriod, UsageLimitPeriod } from '../keys/key-types';
import { effectiveRateLimits } from '../keys/tiers';
import { type Claim, keyClaims, keyQuotaBaseline, type LevelEntry, levelClaims, quotaPeriodEnd, quotaPeriodStart, type RequestBounds } from '../middleware/claims';
import { budgetBaseline } from './key-baselines';
import type { CounterBaseline } from './ledger';
import type { LimitBackend } from './limits';
import { budgetPeriodEnd, budgetPeriodStart, FIXED_WINDOWS, microCentsToCents } from './periods';

/** A window with what is left in it. */
export interface WindowStatus {
  window: string;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  reset: number;
  resetsAt: string;
}

/** An owner's or tenant's limits with what is left (for GET /api/v1/key). */
export interface LevelStatus {
  level: 'owner' | 'tenant';
  rateLimits: WindowStatus[];
  tokenLimits: WindowStatus[];
  budget: BudgetView | null;
}

/** Where a key stands against its limits right now (for /api/v1/key, the usage API and the dashboard). */
export interface LimitStatus {
  rateLimits: WindowStatus[];
  tokenLimits: WindowStatus[];
  quota: { used: number; limit: number; remaining: number; period: UsageLimitPeriod; resetsAt: string | null } | null;
  budget: { limitCents: number; period: BudgetPeriod; spentCents: number; remainingCents: number; resetsAt: string | null } | null;
  concurrency: { limit: number; inFlight: number } | null;
  levels: LevelStatus[];
}

const NONE: CounterBaseline = { used: 0, ceiling: 0, periodStart: -1 };
/** Bounds that make every counter of a level appear (status reads them, it reserves nothing). */
const EVERY_COUNTER: RequestBounds = { costMicroCents: 1, tokens: 1 };

const windowStatus = (window: string, limit: number, used: number, end: number, now: number): WindowStatus => ({
  window,
  limit,
  remaining: Math.max(0, limit - used),
  reset: Math.max(0, Math.ceil((end - now) / 1000)),
  resetsAt: new Date(end).toISOString(),
});

function budgetView(limitCents: number, period: BudgetPeriod, used: number, reserved: number, now: number): BudgetView {
  const end = budgetPeriodEnd(period, now);
  return {
    limitCents,
    period,
    spentCents: microCentsToCents(used),
    remainingCents: microCentsToCents(Math.max(0, limitCents * 1_000_000 - used - reserved)),
    resetsAt: end === null ? null : new Date(end).toISOString(),
  };
}

/** When a window counter's period ends (its kind names the window: "tokens:minute", "requests:day"). */
function windowEnd(kind: string, periodStart: number): number {
  return FIXED_WINDOWS[kind.split(':')[1] as keyof typeof FIXED_WINDOWS].end(periodStart);
}

/** Window statuses of claims (request or token windows), read from the ledger without counting. */
async function windowStatuses(limits: LimitBackend, claims: readonly Claim[], now: number): Promise<WindowStatus[]> {
  const windows: WindowStatus[] = [];
  for (const { request } of claims) {
    const { keyId, kind, periodStart, limit, baseline } = request;
    const usage = await limits.ledger.usage(keyId, kind, periodStart, baseline);
    windows.push(windowStatus(kind.split(':')[1], limit, usage.used + usage.reserved, windowEnd(kind, periodStart), now));
  }
  return windows;
}

const isTokenWindow = (claim: Claim) => claim.request.kind.startsWith('tokens:');
const isRequestWindow = (claim: Claim) => claim.request.kind.startsWith('requests:');

/** An owner's or tenant's counters, read through the claims a request would make. */
async function levelStatus(limits: LimitBackend, entry: LevelEntry, now: number): Promise<LevelStatus> {
  const claims = levelClaims(entry, EVERY_COUNTER, now);
  const budget = claims.find((c) => c.request.kind === 'budget');
  let budgetStatus: BudgetView | null = null;
  if (budget && entry.limits.budget) {
    const { keyId, kind, periodStart, baseline } = budget.request;
    const usage = await limits.ledger.usage(keyId, kind, periodStart, baseline);
    budgetStatus = budgetView(entry.limits.budget.limitCents, entry.limits.budget.period, usage.used, usage.reserved, now);
  }
  return {
    level: entry.level,
    rateLimits: await windowStatuses(limits, claims.filter(isRequestWindow), now),
    tokenLimits: await windowStatuses(limits, claims.filter(isTokenWindow), now),
    budget: budgetStatus,
  };
}

export async function limitStatus(limits: LimitBackend, key: ApiKeyRecord, now = Date.now(), levels: readonly LevelEntry[] = []): Promise<LimitStatus> {
  const windows = await limits.rateWindows.peek(key.id, effectiveRateLimits(key.tier, key.rateLimits));
  let quota: LimitStatus['quota'] = null;
  if (key.usageLimit !== null) {
    const periodStart = quotaPeriodStart(key.usageLimitPeriod, now);
    const usage = await limits.ledger.usage(key.id, 'quota', periodStart, keyQuotaBaseline(key, periodStart));
    const used = usage.used + usage.reserved;
    const end = quotaPeriodEnd(key.usageLimitPeriod, now);
    quota = {
      used,
      limit: key.usageLimit,
      remaining: Math.max(0, key.usageLimit - used),
      period: key.usageLimitPeriod,
      resetsAt: end === null ? null : new Date(end).toISOString(),
    };
  }
  let budget: LimitStatus['budget'] = null;
  if (key.budget) {
    const periodStart = budgetPeriodStart(key.budget.period, now);
    const usage = await limits.ledger.usage(key.id, 'budget', periodStart, budgetBaseline(key));
    budget = budgetView(key.budget.limitCents, key.budget.period, usage.used, usage.reserved, now);
  }
  let concurrency: LimitStatus['concurrency'] = null;
  if (key.maxConcurrentRequests !== null) {
    const usage = await limits.ledger.usage(key.id, 'concurrent', 0, NONE);
    concurrency = { limit: key.maxConcurrentRequests, inFlight: usage.reserved };
  }
  return {
    rateLimits: windows.map((w) => ({
      window: w.window,
      limit: w.limit,
      remaining: w.remaining,
      reset: Math.ceil(w.resetMs / 1000),
      resetsAt: new Date(now + w.resetMs).toISOString(),
    })),
    tokenLimits: await windowStatuses(limits, keyClaims(key, { costMicroCents: 0, tokens: 1 }, now).filter(isTokenWindow), now),
    quota,
    budget,
    concurrency,
    levels: await Promise.all(levels.map((entry) => levelStatus(limits, entry, now))),
  };
}
