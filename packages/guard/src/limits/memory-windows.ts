/**
 * The key's four request windows for a single instance, counted here rather than by
 * rate-limiter-flexible's memory store. Why: the guard counts every request against four windows;
 * RateLimiterMemory answers each through a promise and keeps a timer per key and window, so one
 * request cost four promise hops plus header work, and every key ever used kept timers and
 * records alive until its windows ended (memory grew with every key seen and stayed). Here one
 * small record per key holds all four counters, a request is counted synchronously, and records
 * whose windows have all ended are swept.
 *
 * The semantics are rate-limiter-flexible's, unchanged (test/unit/rate-windows.test.ts runs the
 * same cases against both): the minute, hour and day windows start with a key's first request in
 * them and last their length; the month window is the calendar month (UTC). A request refused by
 * any window is given back to all of them, so counters hold accepted requests only.
 * rate-limiter-flexible stays where it serves: sign-in counters, the invalid-key guard, and the
 * Redis windows' insurance limiter.
 */
import type { RateLimits } from '../keys/key-types';
import { calendarMonth, type CalendarMonth } from './periods';
import type { RateCheck, RequestWindows, WindowState } from './rate-windows';

/** One key's counters: count and end (ms) of the minute, hour and day windows; the month's count and id. */
interface WindowRecord {
  minute: number;
  minuteEnd: number;
  hour: number;
  hourEnd: number;
  day: number;
  dayEnd: number;
  month: number;
  monthId: string;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface MemoryWindowsOptions {
  now?: () => number;
  /**
   * Most keys whose counters are kept (default 1,000,000, about 120 MB). Past it, the keys that
   * were counted first lose their counters (they start from 0): a bound on memory, never reached
   * by tenant bases this size within a month.
   */
  maxKeys?: number;
  /** How often records whose windows have all ended are dropped (default 60 s). */
  sweepMs?: number;
}

/** Request windows of every key, counted synchronously in this process. */
export class MemoryRateWindows implements RequestWindows {
  private readonly records = new Map<string, WindowRecord>();
  private readonly now: () => number;
  private readonly maxKeys: number;
  private month: CalendarMonth;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: MemoryWindowsOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxKeys = options.maxKeys ?? 1_000_000;
    this.month = calendarMonth(this.now());
    const sweepMs = options.sweepMs ?? 60_000;
    this.timer = setInterval(() => this.sweep(), sweepMs);
    this.timer.unref();
  }

  /** Keys with counters now. */
  get size(): number {
    return this.records.size;
  }

  private currentMonth(now: number): CalendarMonth {
    if (now >= this.month.end || now < this.month.start) this.month = calendarMonth(now);
    return this.month;
  }

  /** The key's record brought to `now` (windows that ended start over), created when missing. */
  private record(keyId: string, month: CalendarMonth): WindowRecord {
    let r = this.records.get(keyId);
    if (!r) {
      if (this.records.size >= this.maxKeys) this.records.delete(this.records.keys().next().value as string);
      r = { minute: 0, minuteEnd: 0, hour: 0, hourEnd: 0, day: 0, dayEnd: 0, month: 0, monthId: month.id };
      this.records.set(keyId, r);
    }
    if (r.monthId !== month.id) {
      r.month = 0;
      r.monthId = month.id;
    }
    return r;
  }

  private states(r: WindowRecord | undefined, limits: RateLimits, now: number, month: CalendarMonth): WindowState[] {
    const minuteLive = r !== undefined && r.minuteEnd > now;
    const hourLive = r !== undefined && r.hourEnd > now;
    const dayLive = r !== undefined && r.dayEnd > now;
    const minute = minuteLive ? r.minute : 0;
    const hour = hourLive ? r.hour : 0;
    const day = dayLive ? r.day : 0;
    const monthUsed = r !== undefined && r.monthId === month.id ? r.month : 0;
    return [
      { window: 'minute', limit: limits.perMinute, used: minute, remaining: Math.max(0, limits.perMinute - minute), resetMs: minuteLive ? r.minuteEnd - now : MINUTE_MS },
      { window: 'hour', limit: limits.perHour, used: hour, remaining: Math.max(0, limits.perHour - hour), resetMs: hourLive ? r.hourEnd - now : HOUR_MS },
      { window: 'day', limit: limits.perDay, used: day, remaining: Math.max(0, limits.perDay - day), resetMs: dayLive ? r.dayEnd - now : DAY_MS },
      { window: 'month', limit: limits.perMonth, used: monthUsed, remaining: Math.max(0, limits.perMonth - monthUsed), resetMs: month.end - now },
    ];
  }

  /** consume() without waiting. */
  consumeNow(keyId: string, limits: RateLimits): RateCheck {
    const now = this.now();
    const month = this.currentMonth(now);
    const r = this.record(keyId, month);
    if (r.minuteEnd <= now) {
      r.minute = 0;
      r.minuteEnd = now + MINUTE_MS;
    }
    if (r.hourEnd <= now) {
      r.hour = 0;
      r.hourEnd = now + HOUR_MS;
    }
    if (r.dayEnd <= now) {
      r.day = 0;
      r.dayEnd = now + DAY_MS;
    }
    r.minute += 1;
    r.hour += 1;
    r.day += 1;
    r.month += 1;
    const over =
      r.minute > limits.perMinute || r.hour > limits.perHour || r.day > limits.perDay || r.month > limits.perMonth;
    if (!over) return { allowed: true, windows: this.states(r, limits, now, month) };
    // Refused: the windows that were full decide Retry-After; the request counts in none.
    const counted = this.states(r, limits, now, month);
    const full = counted.filter((w) => w.used > w.limit);
    r.minute -= 1;
    r.hour -= 1;
    r.day -= 1;
    r.month -= 1;
    return {
      allowed: false,
      windows: this.states(r, limits, now, month),
      retryAfterSeconds: Math.max(...full.map((w) => Math.ceil(w.resetMs / 1000))),
    };
  }

  /** refund() without waiting. */
  refundNow(keyId: string): void {
    const r = this.records.get(keyId);
    if (!r) return;
    const now = this.now();
    if (r.minuteEnd > now) r.minute = Math.max(0, r.minute - 1);
    if (r.hourEnd > now) r.hour = Math.max(0, r.hour - 1);
    if (r.dayEnd > now) r.day = Math.max(0, r.day - 1);
    if (r.monthId === this.currentMonth(now).id) r.month = Math.max(0, r.month - 1);
  }

  /** peek() without waiting. */
  peekNow(keyId: string, limits: RateLimits): WindowState[] {
    const now = this.now();
    return this.states(this.records.get(keyId), limits, now, this.currentMonth(now));
  }

  async consume(keyId: string, limits: RateLimits): Promise<RateCheck> {
    return this.consumeNow(keyId, limits);
  }

  async refund(keyId: string): Promise<void> {
    this.refundNow(keyId);
  }

  async peek(keyId: string, limits: RateLimits): Promise<WindowState[]> {
    return this.peekNow(keyId, limits);
  }

  /** Drops records with nothing left to count: every window ended, no request this month. */
  sweep(): void {
    const now = this.now();
    const month = this.currentMonth(now);
    for (const [keyId, r] of this.records) {
      const idle = r.minuteEnd <= now && r.hourEnd <= now && r.dayEnd <= now;
      if (idle && (r.monthId !== month.id || r.month === 0)) this.records.delete(keyId);
    }
  }

  /** Stops the sweep timer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
