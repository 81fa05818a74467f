import type { ApiKeyRecord, BudgetPeriod } from '../keys/key-types';
import { effectiveRateLimits } from '../keys/tiers';
import { budgetBaseline, quotaBaseline } from './key-baselines';
import type { LimitBackend } from './limits';
import { budgetPeriodEnd, budgetPeriodStart, microCentsToCents } from './periods';

/** Where a key stands against its limits right now (for /api/v1/key, the usage API and the dashboard). */
export interface LimitStatus {
  rateLimits: { window: string; limit: number; remaining: number; reset: number; resetsAt: string }[];
  quota: { used: number; limit: number; remaining: number } | null;
  budget: { limitCents: number; period: BudgetPeriod; spentCents: number; remainingCents: number; resetsAt: string | null } | null;
}

export async function limitStatus(limits: LimitBackend, key: ApiKeyRecord, now = Date.now()): Promise<LimitStatus> {
  const windows = await limits.rateWindows.peek(key.id, effectiveRateLimits(key.tier, key.rateLimits));
  let quota: LimitStatus['quota'] = null;
  if (key.usageLimit !== null) {
    const usage = await limits.ledger.usage(key.id, 'quota', 0, quotaBaseline(key));
    const used = usage.used + usage.reserved;
    quota = { used, limit: key.usageLimit, remaining: Math.max(0, key.usageLimit - used) };
  }
  let budget: LimitStatus['budget'] = null;
  if (key.budget) {
    const periodStart = budgetPeriodStart(key.budget.period, now);
    const usage = await limits.ledger.usage(key.id, 'budget', periodStart, budgetBaseline(key));
    const limitMicro = key.budget.limitCents * 1_000_000;
    const end = budgetPeriodEnd(key.budget.period, now);
    budget = {
      limitCents: key.budget.limitCents,
      period: key.budget.period,
      spentCents: microCentsToCents(usage.used),
      remainingCents: microCentsToCents(Math.max(0, limitMicro - usage.used - usage.reserved)),
      resetsAt: end === null ? null : new Date(end).toISOString(),
    };
  }
  return {
    rateLimits: windows.map((w) => ({
      window: w.window,
      limit: w.limit,
      remaining: w.remaining,
      reset: Math.ceil(w.resetMs / 1000),
      resetsAt: new Date(now + w.resetMs).toISOString(),
    })),
    quota,
    budget,
  };
}
