/**
 * How numbers, money and dates read on the dashboard: "1,234 requests", "$12.34", "$0.0158", "3 minutes
 * ago" with the exact UTC time beside it. Pure functions, handed to every template.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** 1234 → "1,234". */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/**
 * Cents → dollars, the one money format of the dashboard. Whole cents read with two decimals
 * ("$12.34", "$5.00": budgets are exact); amounts under a dollar with fractions of a cent read
 * with three significant digits, never rounded away ("$0.0158" for 1.58 ¢, "$0.000158" for
 * 0.0158 ¢: LLM-sized requests); other amounts with fractions of a cent round to the cent.
 */
export function formatCents(cents: number): string {
  if (!Number.isFinite(cents)) return '—';
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const dollars = abs / 100;
  const wholeCents = Number.isInteger(abs);
  // (The nudge rounds halves up: 61,250 micro-cents is $0.0006125 in decimal, a hair less in binary.)
  const shown = wholeCents || abs >= 100 ? dollars : Number((dollars * (1 + 1e-12)).toPrecision(3));
  // Spend is counted in micro-cents (1e-8 dollars): no digit beyond the eighth decimal means anything.
  const decimals = wholeCents || abs >= 100 ? 2 : 8;
  return `${sign}$${shown.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: decimals })}`;
}

/** Micro-cents (1e-6 cent, how spend is counted) → "$12.34", "$0.0158". */
export function formatMicroCents(microCents: number): string {
  return formatCents(microCents / 1_000_000);
}

/** A budget as people say it: "$5.00 monthly", "$20.00 in total". */
export function formatBudget(budget: { limitCents: number; period: string }): string {
  return `${formatCents(budget.limitCents)} ${budget.period === 'monthly' ? 'monthly' : 'in total'}`;
}

/** "1 request" / "3 requests". */
export function plural(count: number, word: string, many = `${word}s`): string {
  return `${formatCount(count)} ${count === 1 ? word : many}`;
}

/** "2026-11-22 14:03:12 UTC": what a relative date shows on hover. */
export function exactTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** "2026-11-22" (UTC). */
export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * "just now", "5 minutes ago", "in 3 days", "2 months ago". The near future is counted in
 * seconds ("in 23 s"): a rate window that resets in 23 s has not reset "just now".
 */
export function relativeTime(date: Date, now: Date): string {
  const diff = date.getTime() - now.getTime();
  const abs = Math.abs(diff);
  if (diff > 0 && abs < 59_500) return `in ${Math.max(1, Math.round(abs / 1000))} s`;
  if (abs < 45_000) return 'just now';
  const [amount, unit] =
    abs < HOUR
      ? [Math.max(1, Math.round(abs / MINUTE)), 'minute']
      : abs < DAY
        ? [Math.round(abs / HOUR), 'hour']
        : abs < 45 * DAY
          ? [Math.round(abs / DAY), 'day']
          : abs < 365 * DAY
            ? [Math.round(abs / (30 * DAY)), 'month']
            : [Math.round(abs / (365 * DAY)), 'year'];
  const text = `${amount} ${unit}${amount === 1 ? '' : 's'}`;
  return diff < 0 ? `${text} ago` : `in ${text}`;
}

/** A share as a whole percentage from 0 to 100 (for bars). */
export function percentOf(part: number, whole: number): number {
  if (!(whole > 0)) return 0;
  return Math.max(0, Math.min(100, Math.round((part / whole) * 100)));
}

/** The helpers templates receive as `fmt`. */
export const fmt = {
  count: formatCount,
  cents: formatCents,
  microCents: formatMicroCents,
  budget: formatBudget,
  plural,
  exact: exactTime,
  day: isoDay,
  relative: relativeTime,
  percentOf,
};
