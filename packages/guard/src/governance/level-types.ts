/**
 * Limits above the key: a request must fit its key, the key's owner (a user, within the tenant)
 * and the tenant. Each level may have a budget, request windows and token windows; the shapes use
 * a key's field names so one vocabulary serves the API, the dashboard and the guard.
 */
import type { Budget, BudgetPeriod } from '../keys/key-types';

/** Where a limit sits: on the key, on the key's owner within its tenant, or on the tenant. */
export const LIMIT_LEVELS = ['key', 'owner', 'tenant'] as const;
export type LimitLevel = (typeof LIMIT_LEVELS)[number];

/** Tokens per minute and per day; null: no such window. */
export interface TokenLimits {
  perMinute: number | null;
  perDay: number | null;
}

/** Requests per window for a level; null: no such window (levels have no tier defaults). */
export interface LevelRateLimits {
  perMinute: number | null;
  perHour: number | null;
  perDay: number | null;
  perMonth: number | null;
}

/** What may be set on an owner or a tenant. */
export interface LevelLimits {
  budget: Budget | null;
  rateLimits: LevelRateLimits;
  tokenLimits: TokenLimits;
}

/** A tenant's limits, plus the budget and quota shares (percent) at which alerts fire. */
export interface TenantLimits extends LevelLimits {
  alertThresholds: number[];
}

/** A budget as GET shows it: the limit plus what is spent and left in the current period. */
export interface BudgetView {
  limitCents: number;
  period: BudgetPeriod;
  spentCents: number;
  remainingCents: number;
  resetsAt: string | null;
}

/** GET /api/v1/owners/{userId}/limits. */
export interface OwnerLimitsView extends Omit<LevelLimits, 'budget'> {
  userId: string;
  email: string;
  budget: BudgetView | null;
}

/** GET /api/v1/tenant. */
export interface TenantLimitsView extends Omit<TenantLimits, 'budget'> {
  id: string;
  name: string;
  slug: string;
  budget: BudgetView | null;
}

export const DEFAULT_ALERT_THRESHOLDS = [50, 80, 100];

export const NO_LIMITS: LevelLimits = {
  budget: null,
  rateLimits: { perMinute: null, perHour: null, perDay: null, perMonth: null },
  tokenLimits: { perMinute: null, perDay: null },
};

/** True when a level limits nothing (the guard skips it). */
export function limitsNothing(limits: LevelLimits): boolean {
  return (
    limits.budget === null &&
    Object.values(limits.rateLimits).every((v) => v === null) &&
    Object.values(limits.tokenLimits).every((v) => v === null)
  );
}
