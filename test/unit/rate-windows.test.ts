import { RateLimiterMemory } from 'rate-limiter-flexible';
import { COUNT_ONLY_POINTS, rateLimitHeaders, RateWindows } from '../../packages/guard/src/limits/rate-windows';

const limits = { perMinute: 3, perHour: 5, perDay: 100, perMonth: 1000 };

function windows(now = () => Date.now()) {
  return new RateWindows((window, duration) => new RateLimiterMemory({ keyPrefix: `t:${window}:${Math.random()}`, points: COUNT_ONLY_POINTS, duration }), now);
}

describe('RateWindows', () => {
  it('allows up to each window\'s limit and reports the full window', async () => {
    const rw = windows();
    for (let i = 0; i < 3; i++) expect((await rw.consume('k', limits)).allowed).toBe(true);
    const refused = await rw.consume('k', limits);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(refused.windows.find((w) => w.window === 'minute')).toMatchObject({ used: 3, remaining: 0 });
  });

  it('gives a refused request back to every window: counters hold accepted requests only', async () => {
    const rw = windows();
    for (let i = 0; i < 10; i++) await rw.consume('k', limits);
    const state = await rw.peek('k', limits);
    expect(state.map((w) => [w.window, w.used])).toEqual([
      ['minute', 3],
      ['hour', 3],
      ['day', 3],
      ['month', 3],
    ]);
  });

  it('counts keys separately and applies a changed limit to the current window at once', async () => {
    const rw = windows();
    for (let i = 0; i < 3; i++) await rw.consume('a', limits);
    expect((await rw.consume('b', limits)).allowed).toBe(true);
    expect((await rw.consume('a', limits)).allowed).toBe(false);
    expect((await rw.consume('a', { ...limits, perMinute: 4 })).allowed).toBe(true);
  });

  it('counts the month window per calendar month (UTC) and resets it at the month\'s end', async () => {
    let now = Date.UTC(2026, 10, 30, 23, 59, 0);
    const rw = windows(() => now);
    const first = await rw.consume('k', { ...limits, perMonth: 1 });
    expect(first.windows.find((w) => w.window === 'month')?.resetMs).toBe(60_000);
    expect((await rw.consume('k', { ...limits, perMonth: 1 })).allowed).toBe(false);
    now = Date.UTC(2026, 11, 1, 0, 0, 1);
    expect((await rw.consume('k', { ...limits, perMonth: 1 })).allowed).toBe(true);
  });

  it('formats the IETF draft headers', () => {
    const state = [
      { window: 'minute' as const, limit: 10, used: 3, remaining: 7, resetMs: 41_200 },
      { window: 'hour' as const, limit: 100, used: 3, remaining: 97, resetMs: 3_500_000 },
      { window: 'day' as const, limit: 1000, used: 3, remaining: 997, resetMs: 80_000_000 },
      { window: 'month' as const, limit: 10_000, used: 3, remaining: 9_997, resetMs: 1_000_000_000 },
    ];
    const headers = rateLimitHeaders(state, { perMinute: 10, perHour: 100, perDay: 1000, perMonth: 10_000 }, Date.UTC(2026, 10, 15));
    expect(headers.policy).toBe('"minute";q=10;w=60, "hour";q=100;w=3600, "day";q=1000;w=86400, "month";q=10000;w=2592000');
    expect(headers.current).toBe('"minute";r=7;t=42');
  });
});
