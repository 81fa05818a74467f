/**
 * The quota and budget ledger for several instances: counters live in Redis and every reservation
 * and settlement is one Lua script, so no interleaving of instances can pass a limit. Durable
 * ceilings stay in the database as for a single instance (see limits/ledger.ts): a Redis that lost
 * its data restarts counters from max(written usage, ceiling).
 *
 * Reservations carry an expiry. One that expires unsettled is charged in full (its amount moves
 * from `reserved` to `used`), not released: the instance that made it died or lost Redis, and may
 * well have served the whole request (the upstream call ran, the client got its answer) without
 * living to settle it. Releasing it would hand that spend out for free, again and again, to anyone
 * who can crash or partition an instance; charging the reserved worst case errs on the side the
 * budget promises. A settlement that arrives after its reservation was charged this way adds only
 * what was used beyond the reserved amount, so a late (or repeated) settlement never counts twice.
 *
 * Every Redis call goes through the breaker (redis-breaker.ts). A settlement Redis did not
 * confirm is kept and sent again once Redis answers; so is the release of a reservation whose
 * RESERVE timed out (Redis may still run it when it wakes up, and the request it was for was not
 * served against it), lest it be charged in full at expiry.
 */
import { randomBytes } from 'node:crypto';
import type {
  CeilingStore,
  CounterBaseline,
  CounterKind,
  CounterUsage,
  LimitLedger,
  Reservation,
  ReserveRequest,
  ReserveResult,
} from '../limits/ledger';
import { CircuitOpenError, isUnanswered, type RedisBreaker } from './redis-breaker';
import type { RedisClient } from './redis-client';

/** Charges expired reservations in full, then starts the counter from the baseline when it is missing or older. */
const PREPARE = `
local period = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'period', 'used', 'reserved', 'ceiling')
local used, reserved, ceiling
if (not st[1]) or tonumber(st[1]) < period then
  used = 0
  if tonumber(ARGV[5]) == period then used = math.max(tonumber(ARGV[3]), tonumber(ARGV[4])) end
  reserved = 0
  ceiling = used
  redis.call('DEL', KEYS[2], KEYS[3])
else
  used = tonumber(st[2]); reserved = tonumber(st[3]); ceiling = tonumber(st[4])
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
for _, id in ipairs(expired) do
  local amount = tonumber(redis.call('HGET', KEYS[3], id) or '0')
  used = used + amount
  reserved = reserved - amount
  redis.call('HDEL', KEYS[3], id)
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2]) end
if reserved < 0 then reserved = 0 end
local p = math.max(period, tonumber(st[1] or '0'))
redis.call('HSET', KEYS[1], 'period', string.format('%.0f', p), 'used', string.format('%.0f', used),
  'reserved', string.format('%.0f', reserved), 'ceiling', string.format('%.0f', ceiling))
redis.call('PEXPIRE', KEYS[1], ARGV[6]); redis.call('PEXPIRE', KEYS[2], ARGV[6]); redis.call('PEXPIRE', KEYS[3], ARGV[6])
`;

/**
 * KEYS: state hash, reservation expiries (zset), reservation amounts (hash).
 * ARGV: period, now, baseUsed, baseCeiling, basePeriod, keepMs, limit, amount, expiresAt, id.
 * Returns {status, used, reserved, ceiling}: 1 reserved, 0 refused, 2 the ceiling must be raised first.
 */
const RESERVE = `${PREPARE}
if tonumber(st[1] or '0') > period then return {0, used, reserved, ceiling} end
local needed = used + reserved + tonumber(ARGV[8])
if needed > tonumber(ARGV[7]) then return {0, used, reserved, ceiling} end
if needed > ceiling then return {2, used, reserved, ceiling} end
reserved = reserved + tonumber(ARGV[8])
redis.call('HSET', KEYS[1], 'reserved', string.format('%.0f', reserved))
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[10])
redis.call('HSET', KEYS[3], ARGV[10], ARGV[8])
return {1, used, reserved, ceiling}
`;

/** KEYS as RESERVE; ARGV: period, now, baseUsed, baseCeiling, basePeriod, keepMs. Returns {used, reserved}. */
const USAGE = `${PREPARE}
return {used, reserved}
`;

/** KEYS as RESERVE; ARGV: period, ceiling. Raises the ceiling of the counter's current period. */
const RAISE = `
local st = redis.call('HMGET', KEYS[1], 'period', 'ceiling')
if st[1] and tonumber(st[1]) == tonumber(ARGV[1]) and tonumber(st[2]) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'ceiling', ARGV[2])
end
return 1
`;

/**
 * KEYS as RESERVE; ARGV: period, id, used, reserved amount. Ends a reservation and counts what was
 * used. A reservation no longer there was charged in full at expiry (or settled already): only
 * use beyond its amount is added then.
 */
const SETTLE = `
local st = redis.call('HMGET', KEYS[1], 'period', 'used', 'reserved')
if (not st[1]) or tonumber(st[1]) ~= tonumber(ARGV[1]) then return 0 end
local reserved = tonumber(st[3])
local charge = tonumber(ARGV[3])
local amount = redis.call('HGET', KEYS[3], ARGV[2])
if amount then
  reserved = math.max(0, reserved - tonumber(amount))
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  charge = math.max(0, charge - tonumber(ARGV[4]))
end
redis.call('HSET', KEYS[1], 'used', string.format('%.0f', tonumber(st[2]) + charge),
  'reserved', string.format('%.0f', reserved))
return 1
`;

/** Extra room a ceiling raise takes, as a share of the limit (as in the memory ledger). */
const CEILING_HEADROOM = 0.05;
/** Counters untouched this long are dropped from Redis (they restart from the database). */
const KEEP_MS = 35 * 86_400_000;

/** Settlements waiting for Redis, at most; beyond, a reservation is left to be charged at expiry. */
const MAX_DEFERRED = 50_000;
/** Deferred settlements sent per round once Redis answers again. */
const RETRY_BATCH = 500;

type Scripted = RedisClient & {
  kwReserve(...args: (string | number)[]): Promise<number[]>;
  kwUsage(...args: (string | number)[]): Promise<number[]>;
  kwRaise(...args: (string | number)[]): Promise<number>;
  kwSettle(...args: (string | number)[]): Promise<number>;
};

interface RedisReservation extends Reservation {
  readonly id: string;
}

/** A settlement Redis has not confirmed yet. */
interface Deferred {
  reservation: RedisReservation;
  used: number;
}

export interface RedisLedgerOptions {
  /** How long a reservation lives if its instance never settles it (longer than any request). */
  reservationTtlMs: number;
  /** Every Redis call goes through it; without one, Redis is always asked. */
  breaker?: RedisBreaker;
  /** How often unconfirmed settlements are retried while the breaker stays closed. */
  retryMs?: number;
  /** Told about each Redis failure (throttled logging is the caller's business). */
  onFailure?: (error: unknown) => void;
  now?: () => number;
}

export class RedisLedger implements LimitLedger {
  private readonly redis: Scripted;
  private readonly deferred: Deferred[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    client: RedisClient,
    private readonly ceilings: CeilingStore,
    private readonly options: RedisLedgerOptions,
  ) {
    for (const [name, lua] of [
      ['kwReserve', RESERVE],
      ['kwUsage', USAGE],
      ['kwRaise', RAISE],
      ['kwSettle', SETTLE],
    ] as const) {
      client.defineCommand(name, { numberOfKeys: 3, lua });
    }
    this.redis = client as Scripted;
    options.breaker?.onClose(() => void this.retryDeferred());
  }

  private call<T>(command: () => Promise<T>): Promise<T> {
    return this.options.breaker ? this.options.breaker.run(command) : command();
  }

  private keys(keyId: string, kind: CounterKind): string[] {
    // One hash tag per key and counter: the three keys live on one cluster slot.
    const base = `kw:ledger:{${keyId}:${kind}}`;
    return [base, `${base}:expiries`, `${base}:amounts`];
  }

  private baselineArgs(periodStart: number, baseline: CounterBaseline, now: number): (string | number)[] {
    return [periodStart, now, baseline.used, baseline.ceiling, baseline.periodStart, KEEP_MS];
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const { keyId, kind, periodStart, limit, amount } = request;
    const id = randomBytes(9).toString('base64url');
    for (;;) {
      const now = this.options.now?.() ?? Date.now();
      let result: number[];
      try {
        result = await this.call(() =>
          this.redis.kwReserve(
            ...this.keys(keyId, kind),
            ...this.baselineArgs(periodStart, request.baseline, now),
            limit,
            amount,
            now + this.options.reservationTtlMs,
            id,
          ),
        );
      } catch (error) {
        // Sent but unanswered: Redis may run it later. Release it then, or it is charged at expiry.
        if (isUnanswered(error) && !(error instanceof CircuitOpenError)) {
          this.defer({ reservation: { keyId, kind, periodStart, amount, id }, used: 0 });
        }
        throw error;
      }
      const [status, used, reserved] = result;
      if (status === 1) return { ok: true, reservation: { keyId, kind, periodStart, amount, id } as RedisReservation, used, reserved };
      if (status === 0) return { ok: false, used, reserved };
      // The durable ceiling is raised in the database first, then in Redis, then we try again.
      const target = Math.min(limit, used + reserved + amount + Math.max(1, Math.ceil(limit * CEILING_HEADROOM)));
      await this.ceilings.raise(keyId, kind, periodStart, target);
      await this.call(() => this.redis.kwRaise(...this.keys(keyId, kind), periodStart, target));
    }
  }

  /**
   * Ends a reservation. When Redis does not answer, the settlement is kept and sent again once
   * it does (it resolves then: the caller has nothing left to do).
   */
  async settle(reservation: Reservation, used: number): Promise<void> {
    const entry = { reservation: reservation as RedisReservation, used: Math.max(0, Math.ceil(used)) };
    try {
      await this.send(entry);
    } catch (error) {
      if (!isUnanswered(error)) throw error;
      this.options.onFailure?.(error);
      if (!this.defer(entry)) throw error;
    }
  }

  async usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Promise<CounterUsage> {
    const now = this.options.now?.() ?? Date.now();
    const [used, reserved] = await this.call(() => this.redis.kwUsage(...this.keys(keyId, kind), ...this.baselineArgs(periodStart, baseline, now)));
    return { used, reserved };
  }

  async reset(keyId: string): Promise<void> {
    await this.call(() => this.redis.del(...this.keys(keyId, 'quota'), ...this.keys(keyId, 'budget')));
  }

  /** Settlements Redis has not confirmed yet. */
  pendingSettlements(): number {
    return this.deferred.length;
  }

  /**
   * Other instances still count on Redis: nothing is lowered on one instance's stop. Unconfirmed
   * settlements get one last try (each bounded by the command timeout, none while the breaker is open).
   */
  async close(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.retryDeferred();
  }

  private send({ reservation, used }: Deferred): Promise<number> {
    const { keyId, kind, periodStart, id, amount } = reservation;
    return this.call(() => this.redis.kwSettle(...this.keys(keyId, kind), periodStart, id, used, amount));
  }

  /** Keeps a settlement for later; false when too many are waiting already. */
  private defer(entry: Deferred): boolean {
    if (this.deferred.length >= MAX_DEFERRED) return false;
    this.deferred.push(entry);
    this.scheduleRetry();
    return true;
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      // While the breaker is open its closing triggers the retry (see the constructor).
      if (this.options.breaker && this.options.breaker.state !== 'closed') return;
      void this.retryDeferred();
    }, this.options.retryMs ?? 1000);
    this.retryTimer.unref();
  }

  private retryDeferred(): Promise<void> {
    this.flushing ??= this.flushDeferred().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Sends waiting settlements, a batch at a time, until one is not answered. */
  private async flushDeferred(): Promise<void> {
    while (this.deferred.length > 0) {
      const batch = this.deferred.splice(0, RETRY_BATCH);
      const results = await Promise.allSettled(batch.map((entry) => this.send(entry)));
      const unanswered: Deferred[] = [];
      results.forEach((result, i) => {
        if (result.status === 'fulfilled') return;
        if (isUnanswered(result.reason)) unanswered.push(batch[i]);
        else this.options.onFailure?.(result.reason);
      });
      if (unanswered.length > 0) {
        this.deferred.unshift(...unanswered);
        this.scheduleRetry();
        return;
      }
    }
  }
}
