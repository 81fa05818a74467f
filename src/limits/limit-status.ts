import type { BudgetView } from '../governance/level-types';
import type { ApiKeyRecord, BudgetPeriod, UsageLimitPeriod } from '../keys/key-types';
import { effectiveRateLimits } from '../keys/tiers';
import { keyQuotaBaseline, type LevelEntry, levelClaims, quotaPeriodEnd, quotaPeriodStart, type RequestBounds } from '../middleware/claims';
import { budgetBaseline } from './key-baselines';
import type { CounterBaseline } from './ledger';
import type { LimitBackend } from './limits';
import { budgetPeriodEnd, budgetPeriodStart, calendarMonth, dayStart, microCentsToCents } from './periods';

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

const PERIOD_END: Record<string, (start: number) => number> = {
  'requests:minute': (s) => s + 60_000,
  'requests:hour': (s) => s + 3_600_000,
  'requests:day': (s) => s + 86_400_000,
  'requests:month': (s) => calendarMonth(s).end,
  'tokens:minute': (s) => s + 60_000,
  'tokens:day': (s) => s + 86_400_000,
};

/** The key's token windows. */
async function tokenWindows(limits: LimitBackend, subject: string, tokenLimits: ApiKeyRecord['tokenLimits'], now: number): Promise<WindowStatus[]> {
  const windows: WindowStatus[] = [];
  for (const [window, limit, start] of [
    ['minute', tokenLimits.perMinute, now - (now % 60_000)],
    ['day', tokenLimits.perDay, dayStart(now)],
  ] as const) {
    if (limit === null) continue;
    const kind = window === 'minute' ? 'tokens:minute' : 'tokens:day';
    const usage = await limits.ledger.usage(subject, kind, start, NONE);
    windows.push(windowStatus(window, limit, usage.used + usage.reserved, PERIOD_END[kind](start), now));
  }
  return windows;
}

/** An owner's or tenant's counters, read through the claims a request would make. */
async function levelStatus(limits: LimitBackend, entry: LevelEntry, now: number): Promise<LevelStatus> {
  const status: LevelStatus = { level: entry.level, rateLimits: [], tokenLimits: [], budget: null };
  for (const claim of levelClaims(entry, EVERY_COUNTER, now)) {
    const { keyId, kind, periodStart, limit, baseline } = claim.request;
    const usage = await limits.ledger.usage(keyId, kind, periodStart, baseline);
    if (kind === 'budget' && entry.limits.budget) {
      status.budget = budgetView(entry.limits.budget.limitCents, entry.limits.budget.period, usage.used, usage.reserved, now);
    } else if (kind !== 'budget') {
      const [family, window] = kind.split(':');
      const target = family === 'tokens' ? status.tokenLimits : status.rateLimits;
      target.push(windowStatus(window, limit, usage.used + usage.reserved, PERIOD_END[kind](periodStart), now));
    }
  }
  return status;
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
    tokenLimits: await tokenWindows(limits, key.id, key.tokenLimits, now),
    quota,
    budget,
    concurrency,
    levels: await Promise.all(levels.map((entry) => levelStatus(limits, entry, now))),
  };
}
