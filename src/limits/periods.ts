import type { BudgetPeriod } from '../keys/key-types';

let month = { start: 0, end: 0 };

/** Start of the budget period containing `now` (ms): the 1st of the month 00:00 UTC, or 0 for "total". */
export function budgetPeriodStart(period: BudgetPeriod, now: number): number {
  if (period === 'total') return 0;
  // Asked on every guarded request with a budget: the month is computed once per month.
  if (now < month.start || now >= month.end) {
    const date = new Date(now);
    month = {
      start: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
      end: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1),
    };
  }
  return month.start;
}

/** When the budget period containing `now` ends (ms), or null for "total". */
export function budgetPeriodEnd(period: BudgetPeriod, now: number): number | null {
  if (period === 'total') return null;
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/** Start of the UTC hour and day containing `at` (ms). */
export function hourStart(at: number): number {
  return at - (at % 3_600_000);
}
export function dayStart(at: number): number {
  return at - (at % 86_400_000);
}

/** Micro-cents (1e-6 cent) from cents, rounded up so estimates never fall short. */
export function centsToMicroCents(cents: number): number {
  return Math.ceil(cents * 1_000_000);
}

/** Cents from micro-cents, for display and the API (exact to 1e-6 cent). */
export function microCentsToCents(microCents: number): number {
  return microCents / 1_000_000;
}
