/**
 * Limits shared by every instance through Redis. What happens when Redis fails is a policy:
 *   - rate windows, invalid-key counting and sign-in counters fall back to a per-instance
 *     in-memory limiter (rate-limiter-flexible's insurance limiter) and recover on their own;
 *   - quotas and budgets cannot be enforced per instance without risking overshoot, so by default
 *     they fail closed: requests of keys with a quota or budget get 503 `limits_unavailable`
 *     (REDIS_FAILURE_MODE=open lets them through unchecked instead). Keys without either are
 *     not affected.
 * "Fails" includes a Redis that stalls: every command has a timeout (set by whoever creates the client) and every
 * Redis call goes through one breaker (redis-breaker.ts), so once Redis is known not to answer the
 * policy applies at once, without asking Redis, until a probe finds it answering again.
 */
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { InvalidKeyGuard } from '../limits/invalid-key-guard';
import type {
  CeilingStore,
  CounterBaseline,
  CounterKind,
  LimitLedger,
  Reservation,
  ReserveAllResult,
  ReserveRequest,
  ReserveResult,
  Settlement,
} from '../limits/ledger';
import { DEFAULT_INVALID_KEY_POLICY, type InvalidKeyPolicy, type LimiterOptions, type LimitBackend, volatileCeilings } from '../limits/limits';
import { MemoryRateWindows } from '../limits/memory-windows';
import { calendarMonth } from '../limits/periods';
import { COUNT_ONLY_POINTS, countedWindows, RateWindows } from '../limits/rate-windows';
import { RedisBreaker } from './redis-breaker';
import type { RedisClient } from './redis-types';
import { type AdmitWindows, RedisLedger } from './redis-ledger';

export type RedisFailureMode = 'closed' | 'open';

/**
 * rate-limiter-flexible's store primitives: every Redis round trip of RateLimiterRedis goes
 * through one of them, and when one rejects (with anything but a RateLimiterRes) the library
 * answers from the insurance limiter instead. They are the seam for the breaker.
 */
interface RedisStorePrimitives {
  _upsert(...args: unknown[]): Promise<unknown>;
  _get(...args: unknown[]): Promise<unknown>;
  _delete(...args: unknown[]): Promise<unknown>;
}

const redisStore = RateLimiterRedis.prototype as unknown as RedisStorePrimitives;
for (const name of ['_upsert', '_get', '_delete'] as const) {
  if (typeof redisStore[name] !== 'function') {
    throw new Error(`rate-limiter-flexible's RateLimiterRedis has no ${name}() any more: update BreakerRateLimiterRedis in @keyward/guard's redis/redis-limits.ts.`);
  }
}

/**
 * RateLimiterRedis whose Redis calls go through the breaker: while it is open they reject at once
 * and the insurance limiter counts in this instance, without waiting for Redis. (Its own
 * `rejectIfRedisNotReady` only sees a closed connection; a stalled Redis stays "ready".)
 */
class BreakerRateLimiterRedis extends RateLimiterRedis implements RedisStorePrimitives {
  private readonly breaker: RedisBreaker;
  private readonly onFailure: (error: unknown) => void;

  constructor(options: ConstructorParameters<typeof RateLimiterRedis>[0], breaker: RedisBreaker, onFailure: (error: unknown) => void) {
    super(options);
    this.breaker = breaker;
    this.onFailure = onFailure;
  }

  private guarded(primitive: keyof RedisStorePrimitives, args: unknown[]): Promise<unknown> {
    return this.breaker.run(() => redisStore[primitive].apply(this, args)).catch((error: unknown) => {
      this.onFailure(error);
      throw error;
    });
  }

  _upsert(...args: unknown[]): Promise<unknown> {
    return this.guarded('_upsert', args);
  }

  _get(...args: unknown[]): Promise<unknown> {
    return this.guarded('_get', args);
  }

  _delete(...args: unknown[]): Promise<unknown> {
    return this.guarded('_delete', args);
  }
}

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
      this.onFailure(error);
      if (this.mode === 'closed') throw error;
      const reservation = { keyId: request.keyId, kind: request.kind, periodStart: request.periodStart, amount: request.amount, [UNCHECKED]: true };
      return { ok: true, reservation, used: 0, reserved: 0 };
    }
  }

  async reserveAll(requests: readonly ReserveRequest[]): Promise<ReserveAllResult> {
    try {
      return await this.inner.reserveAll(requests);
    } catch (error) {
      this.onFailure(error);
      if (this.mode === 'closed') throw error;
      const reservations = requests.map((r) => ({ keyId: r.keyId, kind: r.kind, periodStart: r.periodStart, amount: r.amount, [UNCHECKED]: true }));
      return { ok: true, reservations, counters: requests.map(() => ({ used: 0, reserved: 0 })) };
    }
  }

  async settle(reservation: Reservation, used: number): Promise<void> {
    await this.settleAll([{ reservation, used }]);
  }

  async settleAll(settlements: readonly Settlement[]): Promise<void> {
    const checked = settlements.filter((s) => !(s.reservation as { [UNCHECKED]?: boolean })[UNCHECKED]);
    if (checked.length > 0) await this.inner.settleAll(checked);
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
  /** An ioredis client; give it a `commandTimeout` (e.g. 250 ms) so a stalled Redis counts as a dead one. */
  client: RedisClient;
  /** The breaker every Redis call of these limits goes through. Default: opens after 3 failures, probes (PING) every second. */
  breaker?: RedisBreaker;
  /**
   * Durable high-water marks of quotas and budgets, so a Redis that loses its data can never let
   * one be overshot. Default: none kept (`volatileCeilings`: counters restart with Redis's data).
   */
  ceilings?: CeilingStore;
  /** Invalid-key attempts per client IP. Default: DEFAULT_INVALID_KEY_POLICY (20 per minute, then 5 minutes blocked). */
  invalidKeys?: InvalidKeyPolicy;
  /** While Redis fails: 'closed' refuses requests with a quota or budget (503), 'open' lets them pass uncounted. Default: 'closed'. */
  failureMode?: RedisFailureMode;
  /** How long a reservation lives if its instance never settles it (longer than any request). Default: 11 minutes. */
  reservationTtlMs?: number;
  /** Admit in one Redis round trip, windows and every counter in one script (default true). */
  oneStepAdmission?: boolean;
  /** Told about every failed Redis call, including those refused by the open breaker: throttle it. Default: nothing. */
  onFailure?: (error: unknown) => void;
}

/** Defaults of createRedisLimits() (Keyward's own server sets each from its configuration). */
const DEFAULT_RESERVATION_TTL_MS = 11 * 60_000;
const DEFAULT_BREAKER = { failureThreshold: 3, cooldownMs: 1000 };

/** Limits shared through Redis, with the failure policy above. */
export function createRedisLimits(settings: RedisLimitsOptions): LimitBackend {
  const { client } = settings;
  if (!client || typeof (client as { evalsha?: unknown }).evalsha !== 'function') {
    throw new TypeError('createRedisLimits: `client` must be an ioredis client (new Redis(url, { commandTimeout: 250 }))');
  }
  const options = {
    ...settings,
    breaker: settings.breaker ?? new RedisBreaker({ ...DEFAULT_BREAKER, probe: () => client.ping() }),
    ceilings: settings.ceilings ?? volatileCeilings,
    invalidKeys: settings.invalidKeys ?? DEFAULT_INVALID_KEY_POLICY,
    failureMode: settings.failureMode ?? 'closed',
    reservationTtlMs: settings.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS,
    onFailure: settings.onFailure ?? (() => undefined),
  };
  const { breaker, onFailure } = options;
  const limiter = (limiterOptions: LimiterOptions) =>
    new BreakerRateLimiterRedis(
      {
        storeClient: client,
        ...limiterOptions,
        // Without a connection, do not wait for Redis: count in this instance until it is back.
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory(limiterOptions),
      },
      breaker,
      onFailure,
    );
  const policy = options.invalidKeys;
  const redisLedger = new RedisLedger(client, options.ceilings, { reservationTtlMs: options.reservationTtlMs, breaker, onFailure });
  const ledger = new PolicyLedger(redisLedger, options.failureMode, onFailure);
  // Where the windows count while Redis fails (as the insurance limiters of rateWindows do).
  const insurance = new MemoryRateWindows();
  /** One script for the windows and every counter; on a failure, the policy of this module. */
  const admit: NonNullable<LimitBackend['admit']> = async (keyId, rateLimits, requests) => {
    const now = Date.now();
    const month = calendarMonth(now);
    const windows: AdmitWindows = {
      keys: [`kw:rl:minute:${keyId}`, `kw:rl:hour:${keyId}`, `kw:rl:day:${keyId}`, `kw:rl:month:${keyId}:${month.id}`, `kw:rl:month:${keyId}:${month.previousId}`],
      limits: [rateLimits.perMinute, rateLimits.perHour, rateLimits.perDay, rateLimits.perMonth],
    };
    try {
      const answer = await redisLedger.admit(windows, requests);
      return { rate: countedWindows(answer.windows, rateLimits, now), result: answer.result ?? null };
    } catch (error) {
      onFailure(error);
      const rate = insurance.consumeNow(keyId, rateLimits);
      if (!rate.allowed) return { rate, result: null };
      if (requests.length === 0) return { rate, result: { ok: true, reservations: [], counters: [] } };
      if (options.failureMode === 'closed') {
        insurance.refundNow(keyId);
        throw error;
      }
      const reservations = requests.map((r) => ({ keyId: r.keyId, kind: r.kind, periodStart: r.periodStart, amount: r.amount, [UNCHECKED]: true }));
      return { rate, result: { ok: true, reservations, counters: requests.map(() => ({ used: 0, reserved: 0 })) } };
    }
  };
  return {
    rateWindows: new RateWindows((window, duration) => limiter({ keyPrefix: `kw:rl:${window}`, points: COUNT_ONLY_POINTS, duration })),
    ledger,
    invalidKeys: new InvalidKeyGuard(
      limiter({ keyPrefix: 'kw:invalid-key', points: policy.attempts, duration: policy.windowSeconds, blockDuration: policy.blockSeconds }),
    ),
    // One step per admission (one script); `oneStepAdmission: false` keeps the two-step path.
    ...(options.oneStepAdmission !== false ? { admit } : {}),
    createLimiter: limiter,
    // Sends settlements Redis has not confirmed yet (see redis-ledger.ts).
    close: () => {
      insurance.close();
      return ledger.close();
    },
  };
}
