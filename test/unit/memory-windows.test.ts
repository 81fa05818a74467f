import { RateLimiterMemory } from 'rate-limiter-flexible';
import { MemoryRateWindows } from '../../packages/guard/src/limits/memory-windows';
import { COUNT_ONLY_POINTS, RateWindows, type RequestWindows } from '../../packages/guard/src/limits/rate-windows';

/**
 * MemoryRateWindows replaces rate-limiter-flexible's memory store for the key's windows: the same
 * sequences of requests, at the same times, must give the same answers and window states.
 */
const limits = { perMinute: 3, perHour: 5, perDay: 100, perMonth: 1000 };

function both(now: () => number): [string, RequestWindows][] {
  return [
    ['rate-limiter-flexible', new RateWindows((window, duration) => new RateLimiterMemory({ keyPrefix: `m:${window}:${Math.random()}`, points: COUNT_ONLY_POINTS, duration }), now)],
    ['MemoryRateWindows', new MemoryRateWindows({ now })],
  ];
}

afterEach(() => jest.useRealTimers());

describe('MemoryRateWindows matches rate-limiter-flexible', () => {
  it('gives the same answers and states through windows that fill, reset and refuse', async () => {
    let now = Date.UTC(2026, 10, 30, 23, 58, 30);
    jest.useFakeTimers({ now, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const clock = () => now;
    const runs: unknown[][] = [];
    for (const [, w] of both(clock)) {
      runs.push(
        await (async () => {
        const log: unknown[] = [];
        const steps: [number, string, typeof limits][] = [];
        for (let i = 0; i < 12; i++) steps.push([i * 7_000, i % 3 ? 'a' : 'b', i === 6 ? { ...limits, perMinute: 5 } : limits]);
        steps.push([61_000, 'a', limits], [3_700_000, 'a', { ...limits, perMonth: 4 }], [3_700_500, 'a', { ...limits, perMonth: 4 }]);
        const start = now;
        for (const [offset, key, l] of steps) {
          now = start + offset;
          jest.setSystemTime(now);
          log.push(await w.consume(key, l));
          log.push(await w.peek(key, l));
        }
        await w.refund('a');
        log.push(await w.peek('a', limits));
        log.push(await w.peek('never', limits));
        now = start;
        return log;
        })(),
      );
    }
    expect(runs[1]).toEqual(runs[0]);
  });

  it('counts synchronously and sweeps keys whose windows all ended', () => {
    let now = Date.UTC(2026, 10, 15);
    const w = new MemoryRateWindows({ now: () => now });
    for (let i = 0; i < 500; i++) expect(w.consumeNow(`k${i}`, limits).allowed).toBe(true);
    expect(w.size).toBe(500);
    now += 86_400_001;
    w.sweep();
    // The month counters still count this month: kept.
    expect(w.size).toBe(500);
    now = Date.UTC(2026, 11, 3);
    w.sweep();
    expect(w.size).toBe(0);
    w.close();
  });

  it('keeps at most maxKeys keys', () => {
    const w = new MemoryRateWindows({ maxKeys: 100 });
    for (let i = 0; i < 1000; i++) w.consumeNow(`k${i}`, limits);
    expect(w.size).toBe(100);
    expect(w.peekNow('k999', limits)[0].used).toBe(1);
    w.close();
  });
});
