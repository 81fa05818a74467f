/** How numbers, money and dates read on the dashboard. */
import { exactTime, formatBudget, formatCents, formatCount, formatMicroCents, percentOf, plural, relativeTime } from '../../src/dashboard/format';

test('counts and money', () => {
  expect(formatCount(1234)).toBe('1,234');
  expect(formatCount(0)).toBe('0');
  expect(formatCount(1_234_567.6)).toBe('1,234,568');
  expect(plural(1, 'request')).toBe('1 request');
  expect(plural(1234, 'request')).toBe('1,234 requests');
  expect(formatCents(1234)).toBe('$12.34');
  expect(formatCents(123456)).toBe('$1,234.56');
  expect(formatCents(0)).toBe('$0.00');
  expect(formatMicroCents(1_234_000_000)).toBe('$12.34');
  expect(percentOf(50, 200)).toBe(25);
  expect(percentOf(300, 200)).toBe(100);
  expect(percentOf(1, 0)).toBe(0);
});

test('money keeps LLM-sized amounts readable: three significant digits under a dollar, never "< $0.01"', () => {
  // 1.58 cents, and the API's 0.01578 cents (15,780 micro-cents).
  expect(formatCents(1.58)).toBe('$0.0158');
  expect(formatMicroCents(15_780)).toBe('$0.000158');
  expect(formatMicroCents(61_250)).toBe('$0.000613');
  expect(formatMicroCents(1)).toBe('$0.00000001');
  expect(formatCents(0.4)).toBe('$0.004');
  expect(formatCents(12.5)).toBe('$0.125');
  expect(formatCents(99.9996)).toBe('$1.00');
  // Whole cents (budgets) are exact with two decimals; a dollar and more rounds to the cent.
  expect(formatCents(500)).toBe('$5.00');
  expect(formatCents(7)).toBe('$0.07');
  expect(formatCents(2_147_483_647)).toBe('$21,474,836.47');
  expect(formatCents(1234.5678)).toBe('$12.35');
  expect(formatCents(-1.58)).toBe('-$0.0158');
  expect(formatBudget({ limitCents: 500, period: 'monthly' })).toBe('$5.00 monthly');
  expect(formatBudget({ limitCents: 2000, period: 'total' })).toBe('$20.00 in total');
  for (let micro = 1; micro < 100_000_000; micro = Math.ceil(micro * 1.37)) {
    const text = formatMicroCents(micro);
    expect(text).not.toMatch(/^\$0\.0*$/); // never reads as nothing
    const shown = Number(text.replace(/[$,]/g, '')) * 100 * 1_000_000;
    expect(Math.abs(shown - micro) / micro).toBeLessThan(0.006); // within 0.6 %
  }
});

test('relative dates with the exact time for hovering', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const at = (ms: number) => new Date(now.getTime() + ms);
  expect(relativeTime(at(-10_000), now)).toBe('just now');
  expect(relativeTime(at(-5 * 60_000), now)).toBe('5 minutes ago');
  expect(relativeTime(at(60_000), now)).toBe('in 1 minute');
  // The near future counts seconds: a window resetting in 23 s has not reset "just now".
  expect(relativeTime(at(23_000), now)).toBe('in 23 s');
  expect(relativeTime(at(400), now)).toBe('in 1 s');
  expect(relativeTime(at(59_000), now)).toBe('in 59 s');
  expect(relativeTime(at(0), now)).toBe('just now');
  expect(relativeTime(at(-3 * 3_600_000), now)).toBe('3 hours ago');
  expect(relativeTime(at(2 * 86_400_000), now)).toBe('in 2 days');
  expect(relativeTime(at(-90 * 86_400_000), now)).toBe('3 months ago');
  expect(relativeTime(at(-800 * 86_400_000), now)).toBe('2 years ago');
  expect(exactTime(now)).toBe('2026-11-22 12:00:00 UTC');
});
