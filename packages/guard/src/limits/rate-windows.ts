/**
 * Per-key request limits over four fixed windows, counted by rate-limiter-flexible. Minute, hour
 * and day windows start with a key's first request in them (rate-limiter-flexible's fixed
 * windows). The month window is the calendar month (UTC), like monthly budgets: its counter is
 * keyed by month and never expires by timer (timers cannot span a month), and the previous
 * month's counter is dropped when the new month's first request arrives.
 *
 * One limiter per window holds every key's counter; each key's own limit is compared here, so
 * changing a key's limit applies to its current window at once. A request refused by any window
 * is given back to all of them: counters hold accepted requests only.
 */
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { RATE_WINDOWS, type RateLimits, type RateWindow } from '../keys/key-types';
import { type CalendarMonth, calendarMonth } from './periods';

/** Window lengths; the month window's is the current calendar month's (see windowSeconds()). */
export const WINDOW_SECONDS: Record<Exclude<RateWindow, 'month'>, number> = {
  minute: 60,
  hour: 3_600,
  day: 86_400,
};

/** A window's length in seconds at `now` (the month window has the current month's length). */
export function windowSeconds(window: RateWindow, now: number): number {
  if (window !== 'month') return WINDOW_SECONDS[window];
  const { start, end } = calendarMonth(now);
  return (end - start) / 1000;
}

const LIMIT_FIELD: Record<RateWindow, keyof RateLimits> = {
  minute: 'perMinute',
  hour: 'perHour',
  day: 'perDay',
  month: 'perMonth',
};

/** A window's state for one key after (or without) counting a request. */
export interface WindowState {
  window: RateWindow;
  limit: number;
  /** Requests accepted in the current window. */
  used: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

export interface RateCheck {
  allowed: boolean;
  windows: WindowState[];
  /** Seconds until every full window has reset (only when refused). */
  retryAfterSeconds?: number;
}

/**
 * Builds the limiter of one window (memory or Redis backed); points are never the limit here.
 * `durationSeconds` is 0 for the month window: its counters are keyed by month instead.
 */
export type WindowLimiterFactory = (window: RateWindow, durationSeconds: number) => RateLimiterAbstract;

/** Practically unlimited points: the limiter counts, this class decides. */
export const COUNT_ONLY_POINTS = 2 ** 31 - 1;

/** A key's request windows, wherever they are counted (see RateWindows and MemoryRateWindows). */
export interface RequestWindows {
  /** Counts one request against every window; refuses when any window is over its limit. */
  consume(keyId: string, limits: RateLimits): Promise<RateCheck>;
  /** Takes back a request counted by consume() (a later limit refused it: it counts nowhere). */
  refund(keyId: string): Promise<void>;
  /** The windows' current state without counting a request. */
  peek(keyId: string, limits: RateLimits): Promise<WindowState[]>;
  /** Optional: consume() answered without a promise (windows counted in this process). */
  consumeNow?(keyId: string, limits: RateLimits): RateCheck;
  /** Optional: refund() without a promise. */
  refundNow?(keyId: string): void;
  /** Optional: peek() without a promise. */
  peekNow?(keyId: string, limits: RateLimits): WindowState[];
  /** Optional: stops timers. */
  close?(): void;
}

/** The windows counted by rate-limiter-flexible limiters (Redis, with an in-memory insurance limiter). */
export class RateWindows implements RequestWindows {
  private readonly limiters: Record<RateWindow, RateLimiterAbstract>;

  constructor(
    factory: WindowLimiterFactory,
    private readonly now: () => number = Date.now,
  ) {
    this.limiters = Object.fromEntries(
      RATE_WINDOWS.map((window) => [window, factory(window, window === 'month' ? 0 : WINDOW_SECONDS[window])]),
    ) as Record<RateWindow, RateLimiterAbstract>;
  }

  private counterKey(window: RateWindow, keyId: string, month: CalendarMonth): string {
    return window === 'month' ? `${keyId}:${month.id}` : keyId;
  }

  private stateOf(window: RateWindow, limit: number, res: RateLimiterRes | null, now: number, monthEnd: number): WindowState {
    const used = res ? Math.max(0, res.consumedPoints) : 0;
    const resetMs =
      window === 'month' ? monthEnd - now : res && res.msBeforeNext > 0 ? res.msBeforeNext : WINDOW_SECONDS[window] * 1000;
    return { window, limit, used, remaining: Math.max(0, limit - used), resetMs };
  }

  /** Counts one request against every window; refuses when any window is over its limit. */
  async consume(keyId: string, limits: RateLimits): Promise<RateCheck> {
    const now = this.now();
    const month = calendarMonth(now);
    const results = await Promise.all(
      RATE_WINDOWS.map((window) => this.limiters[window].consume(this.counterKey(window, keyId, month), 1)),
    );
    const windows = RATE_WINDOWS.map((window, i) => this.stateOf(window, limits[LIMIT_FIELD[window]], results[i], now, month.end));
    const monthResult = results[RATE_WINDOWS.indexOf('month')];
    if (monthResult.consumedPoints === 1) {
      // First request of a new month: last month's counter is no longer needed.
      this.limiters.month.delete(`${keyId}:${month.previousId}`).catch(() => undefined);
    }
    const full = windows.filter((w) => w.used > w.limit);
    if (full.length === 0) return { allowed: true, windows };
    await Promise.all(RATE_WINDOWS.map((window) => this.limiters[window].reward(this.counterKey(window, keyId, month), 1)));
    const refunded = windows.map((w) => ({ ...w, used: w.used - 1, remaining: Math.max(0, w.limit - (w.used - 1)) }));
    const retryAfterSeconds = Math.max(...full.map((w) => Math.ceil(w.resetMs / 1000)));
    return { allowed: false, windows: refunded, retryAfterSeconds };
  }

  /** Takes back a request counted by consume() (a later limit refused it: it counts nowhere). */
  async refund(keyId: string): Promise<void> {
    const month = calendarMonth(this.now());
    await Promise.all(RATE_WINDOWS.map((window) => this.limiters[window].reward(this.counterKey(window, keyId, month), 1)));
  }

  /** The windows' current state without counting a request. */
  async peek(keyId: string, limits: RateLimits): Promise<WindowState[]> {
    const now = this.now();
    const month = calendarMonth(now);
    const results = await Promise.all(RATE_WINDOWS.map((window) => this.limiters[window].get(this.counterKey(window, keyId, month))));
    return RATE_WINDOWS.map((window, i) => this.stateOf(window, limits[LIMIT_FIELD[window]], results[i], now, month.end));
  }
}

const policyCache = new WeakMap<RateLimits, { month: string; policy: string }>();

/**
 * The IETF draft headers (draft-ietf-httpapi-ratelimit-headers): every window's policy, and the
 * state of the most constrained one (fewest remaining; the later reset on a tie). `limits` is
 * the object the windows were checked against; its policy string is built once per month.
 */
export function rateLimitHeaders(windows: WindowState[], limits: RateLimits, now = Date.now()): { policy: string; current: string } {
  const month = calendarMonth(now);
  let cached = policyCache.get(limits);
  if (!cached || cached.month !== month.id) {
    cached = {
      month: month.id,
      policy: windows.map((w) => `"${w.window}";q=${w.limit};w=${windowSeconds(w.window, now)}`).join(', '),
    };
    policyCache.set(limits, cached);
  }
  let tightest = windows[0];
  for (const w of windows) {
    if (w.remaining < tightest.remaining || (w.remaining === tightest.remaining && w.resetMs > tightest.resetMs)) tightest = w;
  }
  return { policy: cached.policy, current: `"${tightest.window}";r=${tightest.remaining};t=${Math.ceil(tightest.resetMs / 1000)}` };
}

/**
 * The windows as rate-limiter-flexible's Redis store counted them ({consumedPoints, msBeforeNext}
 * per window, minute to month, this request included), as RateWindows.consume() answers: refused
 * when any window is over its limit, the states then without the refused request.
 */
export function countedWindows(counted: readonly { count: number; pttl: number }[], limits: RateLimits, now: number): RateCheck {
  const month = calendarMonth(now);
  const windows: WindowState[] = RATE_WINDOWS.map((window, i) => {
    const used = Math.max(0, counted[i].count);
    const limit = limits[LIMIT_FIELD[window]];
    const resetMs = window === 'month' ? month.end - now : counted[i].pttl > 0 ? counted[i].pttl : WINDOW_SECONDS[window] * 1000;
    return { window, limit, used, remaining: Math.max(0, limit - used), resetMs };
  });
  const full = windows.filter((w) => w.used > w.limit);
  if (full.length === 0) return { allowed: true, windows };
  const refunded = windows.map((w) => ({ ...w, used: w.used - 1, remaining: Math.max(0, w.limit - (w.used - 1)) }));
  return { allowed: false, windows: refunded, retryAfterSeconds: Math.max(...full.map((w) => Math.ceil(w.resetMs / 1000))) };
}
