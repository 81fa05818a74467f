import type { BudgetPeriod } from '../keys/key-types';

/** A calendar month (UTC): monthly budgets and the month rate window both follow it. */
export interface CalendarMonth {
  /** e.g. "2026-11". */
  id: string;
  previousId: string;
  /** 00:00 UTC on the 1st (ms). */
  start: number;
  /** 00:00 UTC on the 1st of the next month (ms). */
  end: number;
}

let cached: CalendarMonth | null = null;

/** The calendar month containing `now`. Asked on every guarded request: computed once per month. */
export function calendarMonth(now: number): CalendarMonth {
  if (cached && now >= cached.start && now < cached.end) return cached;
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const id = (d: Date) => `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  cached = {
    id: id(date),
    previousId: id(new Date(Date.UTC(year, month - 1, 1))),
    start: Date.UTC(year, month, 1),
    end: Date.UTC(year, month + 1, 1),
  };
  return cached;
}

/** Start of the budget period containing `now` (ms): the 1st of the month 00:00 UTC, or 0 for "total". */
export function budgetPeriodStart(period: BudgetPeriod, now: number): number {
  return period === 'total' ? 0 : calendarMonth(now).start;
}

/** When the budget period containing `now` ends (ms), or null for "total". */
export function budgetPeriodEnd(period: BudgetPeriod, now: number): number | null {
  return period === 'total' ? null : calendarMonth(now).end;
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
