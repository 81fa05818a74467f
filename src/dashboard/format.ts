/**
 * How numbers, money and dates read on the dashboard: "1,234 requests", "$12.34", "3 minutes
 * ago" with the exact UTC time beside it. Pure functions, handed to every template.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** 1234 → "1,234". */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Cents → "$12.34"; amounts above zero but under a cent read "< $0.01". */
export function formatCents(cents: number): string {
  if (cents > 0 && cents < 1) return '< $0.01';
  return `$${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Micro-cents (1e-6 cent, how spend is counted) → "$12.34". */
export function formatMicroCents(microCents: number): string {
  return formatCents(microCents / 1_000_000);
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

/** "just now", "5 minutes ago", "in 3 days", "2 months ago". */
export function relativeTime(date: Date, now: Date): string {
  const diff = date.getTime() - now.getTime();
  const abs = Math.abs(diff);
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
  plural,
  exact: exactTime,
  day: isoDay,
  relative: relativeTime,
  percentOf,
};
