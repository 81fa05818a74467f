/** How numbers, money and dates read on the dashboard. */
import { actionLabel, describeChanges } from '../../src/dashboard/audit-view';
import { exactTime, formatCents, formatCount, formatMicroCents, percentOf, plural, relativeTime } from '../../src/dashboard/format';

test('counts and money', () => {
  expect(formatCount(1234)).toBe('1,234');
  expect(formatCount(0)).toBe('0');
  expect(formatCount(1_234_567.6)).toBe('1,234,568');
  expect(plural(1, 'request')).toBe('1 request');
  expect(plural(1234, 'request')).toBe('1,234 requests');
  expect(formatCents(1234)).toBe('$12.34');
  expect(formatCents(123456)).toBe('$1,234.56');
  expect(formatCents(0)).toBe('$0.00');
  expect(formatCents(0.4)).toBe('< $0.01');
  expect(formatMicroCents(1_234_000_000)).toBe('$12.34');
  expect(percentOf(50, 200)).toBe(25);
  expect(percentOf(300, 200)).toBe(100);
  expect(percentOf(1, 0)).toBe(0);
});

test('relative dates with the exact time for hovering', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const at = (ms: number) => new Date(now.getTime() + ms);
  expect(relativeTime(at(-10_000), now)).toBe('just now');
  expect(relativeTime(at(-5 * 60_000), now)).toBe('5 minutes ago');
  expect(relativeTime(at(60_000), now)).toBe('in 1 minute');
  expect(relativeTime(at(-3 * 3_600_000), now)).toBe('3 hours ago');
  expect(relativeTime(at(2 * 86_400_000), now)).toBe('in 2 days');
  expect(relativeTime(at(-90 * 86_400_000), now)).toBe('3 months ago');
  expect(relativeTime(at(-800 * 86_400_000), now)).toBe('2 years ago');
  expect(exactTime(now)).toBe('2026-11-22 12:00:00 UTC');
});

test('audit changes read as short lines', () => {
  expect(describeChanges({ status: { before: 'active', after: 'revoked' } })).toEqual([{ field: 'status', before: 'active', after: 'revoked' }]);
  const created = describeChanges({
    name: { before: null, after: 'k' },
    tags: { before: null, after: ['a', 'b'] },
    description: { before: null, after: '' },
    rateLimits: { before: null, after: { perMinute: null } },
    expiresAt: { before: null, after: '2026-11-22T12:00:00.000Z' },
  });
  expect(created).toEqual([
    { field: 'name', before: null, after: 'k' },
    { field: 'tags', before: null, after: 'a, b' },
    { field: 'expiresAt', before: null, after: '2026-11-22 12:00:00 UTC' },
  ]);
  expect(describeChanges({ metadata: { before: { a: 'x'.repeat(200) }, after: {} } })[0].before).toHaveLength(80);
  expect(actionLabel('key.rotate')).toBe('Secret rotated');
  expect(actionLabel('custom.thing')).toBe('custom.thing');
});
