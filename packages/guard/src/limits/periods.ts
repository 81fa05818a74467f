import type { BudgetPeriod } from '../keys/key-types';

const DAY_MS = 86_400_000;

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

/** A budget's or quota's period: for ever, or restarting at 00:00 UTC each day or on the 1st. */
export type LimitPeriod = 'total' | 'daily' | 'monthly';

/** Start of the period containing `now` (ms): 00:00 UTC of the day or the 1st, or 0 for "total". */
export function limitPeriodStart(period: LimitPeriod, now: number): number {
  if (period === 'daily') return dayStart(now);
  if (period === 'monthly') return calendarMonth(now).start;
  return 0;
}

/** When the period containing `now` ends (ms), or null for "total". */
export function limitPeriodEnd(period: LimitPeriod, now: number): number | null {
  if (period === 'daily') return dayStart(now) + DAY_MS;
  if (period === 'monthly') return calendarMonth(now).end;
  return null;
}

/** Start of the budget period containing `now` (ms): the 1st of the month 00:00 UTC, or 0 for "total". */
export function budgetPeriodStart(period: BudgetPeriod, now: number): number {
  return limitPeriodStart(period, now);
}

/** When the budget period containing `now` ends (ms), or null for "total". */
export function budgetPeriodEnd(period: BudgetPeriod, now: number): number | null {
  return limitPeriodEnd(period, now);
}

/** A fixed window of the counters (owner and tenant request windows, token windows). */
export interface FixedWindow {
  start(now: number): number;
  end(start: number): number;
}

/** The fixed windows, aligned to UTC: a window's counter restarts when the next one starts. */
export const FIXED_WINDOWS: Record<'minute' | 'hour' | 'day' | 'month', FixedWindow> = {
  minute: { start: (now) => now - (now % 60_000), end: (start) => start + 60_000 },
  hour: { start: (now) => hourStart(now), end: (start) => start + 3_600_000 },
  day: { start: (now) => dayStart(now), end: (start) => start + DAY_MS },
  month: { start: (now) => calendarMonth(now).start, end: (start) => calendarMonth(start).end },
};

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
