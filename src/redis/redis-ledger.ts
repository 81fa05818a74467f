/**
 * The quota and budget ledger for several instances: counters live in Redis and every reservation
 * and settlement is one Lua script, so no interleaving of instances can pass a limit. Durable
 * ceilings stay in the database as for a single instance (see limits/ledger.ts): a Redis that lost
 * its data restarts counters from max(written usage, ceiling). Reservations carry an expiry, so
 * those of an instance that died are released on their own.
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
import type { RedisClient } from './redis-client';

/** Releases expired reservations, then starts the counter from the baseline when it is missing or older. */
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
  reserved = reserved - tonumber(redis.call('HGET', KEYS[3], id) or '0')
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

/** KEYS as RESERVE; ARGV: period, id, used. Ends a reservation and counts what was used. */
const SETTLE = `
local st = redis.call('HMGET', KEYS[1], 'period', 'used', 'reserved')
if (not st[1]) or tonumber(st[1]) ~= tonumber(ARGV[1]) then return 0 end
local reserved = tonumber(st[3])
local amount = redis.call('HGET', KEYS[3], ARGV[2])
if amount then
  reserved = math.max(0, reserved - tonumber(amount))
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
redis.call('HSET', KEYS[1], 'used', string.format('%.0f', tonumber(st[2]) + tonumber(ARGV[3])),
  'reserved', string.format('%.0f', reserved))
return 1
`;

/** Extra room a ceiling raise takes, as a share of the limit (as in the memory ledger). */
const CEILING_HEADROOM = 0.05;
/** Counters untouched this long are dropped from Redis (they restart from the database). */
const KEEP_MS = 35 * 86_400_000;

type Scripted = RedisClient & {
  kwReserve(...args: (string | number)[]): Promise<number[]>;
  kwUsage(...args: (string | number)[]): Promise<number[]>;
  kwRaise(...args: (string | number)[]): Promise<number>;
  kwSettle(...args: (string | number)[]): Promise<number>;
};

interface RedisReservation extends Reservation {
  readonly id: string;
}

export class RedisLedger implements LimitLedger {
  private readonly redis: Scripted;

  constructor(
    client: RedisClient,
    private readonly ceilings: CeilingStore,
    private readonly options: { reservationTtlMs: number; now?: () => number },
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
      const [status, used, reserved] = await this.redis.kwReserve(
        ...this.keys(keyId, kind),
        ...this.baselineArgs(periodStart, request.baseline, now),
        limit,
        amount,
        now + this.options.reservationTtlMs,
        id,
      );
      if (status === 1) return { ok: true, reservation: { keyId, kind, periodStart, amount, id } as RedisReservation, used, reserved };
      if (status === 0) return { ok: false, used, reserved };
      // The durable ceiling is raised in the database first, then in Redis, then we try again.
      const target = Math.min(limit, used + reserved + amount + Math.max(1, Math.ceil(limit * CEILING_HEADROOM)));
      await this.ceilings.raise(keyId, kind, periodStart, target);
      await this.redis.kwRaise(...this.keys(keyId, kind), periodStart, target);
    }
  }

  async settle(reservation: Reservation, used: number): Promise<void> {
    const { id } = reservation as RedisReservation;
    await this.redis.kwSettle(...this.keys(reservation.keyId, reservation.kind), reservation.periodStart, id, Math.max(0, Math.ceil(used)));
  }

  async usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Promise<CounterUsage> {
    const now = this.options.now?.() ?? Date.now();
    const [used, reserved] = await this.redis.kwUsage(...this.keys(keyId, kind), ...this.baselineArgs(periodStart, baseline, now));
    return { used, reserved };
  }

  async reset(keyId: string): Promise<void> {
    await this.redis.del(...this.keys(keyId, 'quota'), ...this.keys(keyId, 'budget'));
  }

  /** Other instances still count on Redis: nothing is lowered on one instance's stop. */
  async close(): Promise<void> {}
}
