/**
 * Limits shared by every instance through Redis. What happens when Redis fails is a policy:
 *   - rate windows, invalid-key counting and sign-in counters fall back to a per-instance
 *     in-memory limiter (rate-limiter-flexible's insurance limiter) and recover on their own;
 *   - quotas and budgets cannot be enforced per instance without risking overshoot, so by default
 *     they fail closed: requests of keys with a quota or budget get 503 `limits_unavailable`
 *     (REDIS_FAILURE_MODE=open lets them through unchecked instead). Keys without either are
 *     not affected.
 */
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { InvalidKeyGuard } from '../limits/invalid-key-guard';
import type { CeilingStore, CounterBaseline, CounterKind, LimitLedger, Reservation, ReserveRequest, ReserveResult } from '../limits/ledger';
import type { InvalidKeyPolicy, LimiterOptions, LimitBackend } from '../limits/limits';
import { COUNT_ONLY_POINTS, RateWindows } from '../limits/rate-windows';
import type { RedisClient } from './redis-client';
import { RedisLedger } from './redis-ledger';

export type RedisFailureMode = 'closed' | 'open';

/** A reservation granted without Redis (fail-open): nothing to settle. */
const UNCHECKED = Symbol('unchecked');

/** Applies the failure mode around the Redis ledger. */
class PolicyLedger implements LimitLedger {
  constructor(
    private readonly inner: LimitLedger,
    private readonly mode: RedisFailureMode,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    try {
      return await this.inner.reserve(request);
    } catch (error) {
      if (this.mode === 'closed') throw error;
      this.onFailure(error);
      const reservation = { keyId: request.keyId, kind: request.kind, periodStart: request.periodStart, amount: request.amount, [UNCHECKED]: true };
      return { ok: true, reservation, used: 0, reserved: 0 };
    }
  }

  async settle(reservation: Reservation, used: number): Promise<void> {
    if ((reservation as { [UNCHECKED]?: boolean })[UNCHECKED]) return;
    await this.inner.settle(reservation, used);
  }

  /** Where a counter stands; without Redis, the database's figures (for display only). */
  async usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline) {
    try {
      return await this.inner.usage(keyId, kind, periodStart, baseline);
    } catch (error) {
      this.onFailure(error);
      return { used: baseline.periodStart === periodStart ? Math.max(baseline.used, baseline.ceiling) : 0, reserved: 0 };
    }
  }

  reset(keyId: string): Promise<void> {
    return this.inner.reset(keyId);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface RedisLimitsOptions {
  client: RedisClient;
  ceilings: CeilingStore;
  invalidKeys: InvalidKeyPolicy;
  failureMode: RedisFailureMode;
  /** How long a reservation lives if its instance never settles it (longer than any request). */
  reservationTtlMs: number;
  onFailure: (error: unknown) => void;
}

/** Limits shared through Redis, with the failure policy above. */
export function createRedisLimits(options: RedisLimitsOptions): LimitBackend {
  const { client } = options;
  const limiter = (limiterOptions: LimiterOptions) =>
    new RateLimiterRedis({
      storeClient: client,
      ...limiterOptions,
      // Without a connection, do not wait for Redis: count in this instance until it is back.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory(limiterOptions),
    });
  const policy = options.invalidKeys;
  return {
    rateWindows: new RateWindows((window, duration) => limiter({ keyPrefix: `kw:rl:${window}`, points: COUNT_ONLY_POINTS, duration })),
    ledger: new PolicyLedger(
      new RedisLedger(client, options.ceilings, { reservationTtlMs: options.reservationTtlMs }),
      options.failureMode,
      options.onFailure,
    ),
    invalidKeys: new InvalidKeyGuard(
      limiter({ keyPrefix: 'kw:invalid-key', points: policy.attempts, duration: policy.windowSeconds, blockDuration: policy.blockSeconds }),
    ),
    createLimiter: limiter,
    close: async () => undefined,
  };
}
