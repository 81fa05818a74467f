/**
 * The stateful parts of enforcement, bundled so that every guarded route of an app shares them:
 * rate windows, the quota/budget ledger, and the invalid-key guard. createMemoryLimits() keeps
 * them in this process; the Redis variant shares them between instances.
 */
import { type RateLimiterAbstract, RateLimiterMemory } from 'rate-limiter-flexible';
import { MemoryRateWindows } from './memory-windows';
import { InvalidKeyGuard } from './invalid-key-guard';
import { type CeilingStore, type LimitLedger, MemoryLedger, type ReserveAllResult, type ReserveRequest } from './ledger';
import type { RateCheck, RequestWindows } from './rate-windows';
import type { RateLimits } from '../keys/key-types';

/** Options of a plain rate-limiter-flexible limiter (see createLimiter). */
export interface LimiterOptions {
  /** Distinct per use, e.g. "kw:login:email-ip". */
  keyPrefix: string;
  points: number;
  /** Seconds. */
  duration: number;
  /** Seconds a key stays blocked once over the limit (0: until the window ends). */
  blockDuration?: number;
}

export interface LimitBackend {
  rateWindows: RequestWindows;
  ledger: LimitLedger;
  invalidKeys: InvalidKeyGuard;
  /**
   * A limiter on the same store as everything else here (memory, or Redis shared by every
   * instance), for other counters such as sign-in attempts.
   */
  createLimiter(options: LimiterOptions): RateLimiterAbstract;
  /**
   * Optional: the key's request windows and every counter of `requests` in one step (one Redis
   * round trip). A window refusal leaves `result` null; a counter refusal gives the request back
   * to the windows. Rejects when the store fails and the failure policy refuses.
   */
  admit?(keyId: string, rateLimits: RateLimits, requests: readonly ReserveRequest[]): Promise<{ rate: RateCheck; result: ReserveAllResult | null }>;
  /** Releases resources (connections, timers); ledgers lower their ceilings where safe. */
  close(): Promise<void>;
}

/** Invalid-key attempts allowed per client IP per window, and how long an IP is blocked after. */
export interface InvalidKeyPolicy {
  attempts: number;
  windowSeconds: number;
  blockSeconds: number;
}

export const DEFAULT_INVALID_KEY_POLICY: InvalidKeyPolicy = { attempts: 20, windowSeconds: 60, blockSeconds: 300 };

/** Keeps ceilings nowhere: for apps without a database (counters restart at 0 with the process). */
export const volatileCeilings: CeilingStore = {
  raise: async () => undefined,
  lower: async () => undefined,
};

export interface MemoryLimitsOptions {
  ceilings?: CeilingStore;
  invalidKeys?: InvalidKeyPolicy;
  /** Most keys whose request windows are kept (see MemoryRateWindows; default 1,000,000). */
  maxWindowKeys?: number;
}

/** Limits for a single instance. */
export function createMemoryLimits(options: MemoryLimitsOptions = {}): LimitBackend {
  const policy = options.invalidKeys ?? DEFAULT_INVALID_KEY_POLICY;
  const ledger = new MemoryLedger(options.ceilings ?? volatileCeilings);
  const rateWindows = new MemoryRateWindows({ maxKeys: options.maxWindowKeys });
  return {
    rateWindows,
    ledger,
    createLimiter: (limiter) => new RateLimiterMemory(limiter),
    invalidKeys: new InvalidKeyGuard(
      new RateLimiterMemory({
        keyPrefix: 'kw:invalid-key',
        points: policy.attempts,
        duration: policy.windowSeconds,
        blockDuration: policy.blockSeconds,
      }),
    ),
    close: () => {
      rateWindows.close();
      return ledger.close();
    },
  };
}
