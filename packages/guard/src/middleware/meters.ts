/**
 * What the guard counts a request against, once the key is known and allowed: the key's own rate
 * windows (the default), or a separate per-key window for another kind of traffic (e.g. key
 * management), which leaves the key's windows, quota and budget untouched.
 */
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { LimitBackend } from '../limits/limits';
import { type RateCheck, rateLimitHeaders, type WindowState } from '../limits/rate-windows';
import { setOpenAiRequestHeaders } from './openai-headers';
import type { HeaderSink } from './attempt';
import type { PreparedKey } from './prepared-key';

export interface MeterResult {
  allowed: boolean;
  /** When refused: seconds until the window lets requests through again, and a sentence. */
  retryAfterSeconds?: number;
  message?: string;
}

export interface Meter {
  /** True when the key's quota and budget are counted too (the key's own allowance). */
  readonly keyAllowance: boolean;
  /** Sets the rate-limit headers without counting (for refusals before counting). */
  peek(res: HeaderSink, keyId: string, info: PreparedKey): Promise<void>;
  /** Counts the request and sets the rate-limit headers. */
  consume(res: HeaderSink, keyId: string, info: PreparedKey): Promise<MeterResult>;
  /** What consume() would answer, without counting (headers as peek() sets them). */
  wouldAllow(res: HeaderSink, keyId: string, info: PreparedKey): Promise<MeterResult>;
  /** Takes back a counted request that a later limit refused. */
  refund(keyId: string): Promise<void>;
  /** Optional: consume() answered without a promise (windows counted in this process). */
  consumeNow?(res: HeaderSink, keyId: string, info: PreparedKey): MeterResult;
  /** Optional: refund() without a promise. */
  refundNow?(keyId: string): void;
  /** Optional: sets the headers of windows counted elsewhere (LimitBackend.admit) and answers as consume() would. */
  counted?(res: HeaderSink, rate: RateCheck, info: PreparedKey): MeterResult;
}

/** The key's four windows (minute, hour, day, calendar month). */
export function keyWindowsMeter(limits: LimitBackend): Meter {
  const windows = limits.rateWindows;
  const setHeaders = (res: HeaderSink, state: WindowState[], info: PreparedKey) => {
    const headers = rateLimitHeaders(state, info.rateLimits);
    res.setHeader('RateLimit-Policy', headers.policy);
    res.setHeader('RateLimit', headers.current);
    setOpenAiRequestHeaders(res, state);
  };
  const counted = (res: HeaderSink, rate: RateCheck, info: PreparedKey): MeterResult => {
    setHeaders(res, rate.windows, info);
    if (rate.allowed) return ALLOWED;
    const full = rate.windows.filter((w) => w.remaining === 0).map((w) => w.window);
    return {
      allowed: false,
      retryAfterSeconds: rate.retryAfterSeconds,
      message: `Rate limit reached (${full.join(', ')} window). Retry after ${rate.retryAfterSeconds} s.`,
    };
  };
  const meter: Meter = {
    keyAllowance: true,
    counted,
    async peek(res, keyId, info) {
      setHeaders(res, await windows.peek(keyId, info.rateLimits), info);
    },
    async consume(res, keyId, info) {
      return counted(res, await windows.consume(keyId, info.rateLimits), info);
    },
    async wouldAllow(res, keyId, info) {
      const state = await windows.peek(keyId, info.rateLimits);
      const headers = rateLimitHeaders(state, info.rateLimits);
      res.setHeader('RateLimit-Policy', headers.policy);
      res.setHeader('RateLimit', headers.current);
      const full = state.filter((w) => w.remaining <= 0);
      if (full.length === 0) return { allowed: true };
      const retryAfterSeconds = Math.max(...full.map((w) => Math.ceil(w.resetMs / 1000)));
      return {
        allowed: false,
        retryAfterSeconds,
        message: `Rate limit reached (${full.map((w) => w.window).join(', ')} window). Retry after ${retryAfterSeconds} s.`,
      };
    },
    refund: (keyId) => windows.refund(keyId),
  };
  // Windows counted in this process answer without a promise (see limits/memory-windows.ts).
  const consumeNow = windows.consumeNow?.bind(windows);
  const refundNow = windows.refundNow?.bind(windows);
  if (consumeNow && refundNow) {
    meter.consumeNow = (res, keyId, info) => counted(res, consumeNow(keyId, info.rateLimits), info);
    meter.refundNow = refundNow;
  }
  return meter;
}

const ALLOWED: MeterResult = Object.freeze({ allowed: true });

/** Options of a separate per-key window (apiKeyAuth's `rateLimit` option). */
export interface SeparateRateLimit {
  /** Names the window in headers and messages, and keeps its counters apart (e.g. "management"). */
  name: string;
  perMinute: number;
}

/** A separate per-minute window per key, on the same store as the other limits. */
export function separateWindowMeter(limits: LimitBackend, options: SeparateRateLimit): Meter {
  const limiter: RateLimiterAbstract = limits.createLimiter({ keyPrefix: `kw:rl:${options.name}`, points: options.perMinute, duration: 60 });
  const policy = `"${options.name}";q=${options.perMinute};w=60`;
  const setHeaders = (res: HeaderSink, remaining: number, msBeforeNext: number) => {
    res.setHeader('RateLimit-Policy', policy);
    res.setHeader('RateLimit', `"${options.name}";r=${Math.max(0, remaining)};t=${Math.ceil(Math.max(0, msBeforeNext) / 1000)}`);
    setOpenAiRequestHeaders(res, [{ limit: options.perMinute, remaining, resetMs: msBeforeNext }]);
  };
  return {
    keyAllowance: false,
    async peek(res, keyId) {
      const state = await limiter.get(keyId);
      setHeaders(res, options.perMinute - (state?.consumedPoints ?? 0), state?.msBeforeNext ?? 60_000);
    },
    async consume(res, keyId) {
      try {
        const state = await limiter.consume(keyId, 1);
        setHeaders(res, state.remainingPoints, state.msBeforeNext);
        return { allowed: true };
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const retryAfterSeconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        setHeaders(res, 0, rejection.msBeforeNext);
        return {
          allowed: false,
          retryAfterSeconds,
          message: `Rate limit reached (${options.name}: ${options.perMinute} requests a minute). Retry after ${retryAfterSeconds} s.`,
        };
      }
    },
    async wouldAllow(res, keyId) {
      const state = await limiter.get(keyId);
      const used = state?.consumedPoints ?? 0;
      const msBeforeNext = state?.msBeforeNext ?? 60_000;
      setHeaders(res, options.perMinute - used, msBeforeNext);
      if (used < options.perMinute) return { allowed: true };
      const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
      return { allowed: false, retryAfterSeconds, message: `Rate limit reached (${options.name}: ${options.perMinute} requests a minute). Retry after ${retryAfterSeconds} s.` };
    },
    refund: async (keyId) => {
      await limiter.reward(keyId, 1);
    },
  };
}
