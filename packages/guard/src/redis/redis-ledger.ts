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
import {
  type CeilingStore,
  type CounterBaseline,
  type CounterKind,
  type CounterUsage,
  isDurable,
  type LimitLedger,
  releasedOnExpiry,
  type Reservation,
  type ReserveAllResult,
  type ReserveRequest,
  type ReserveResult,
  type Settlement,
} from '../limits/ledger';
import { ReplyError } from 'ioredis';
import { WINDOW_SECONDS } from '../limits/rate-windows';
import { CircuitOpenError, isUnanswered, type RedisBreaker } from './redis-breaker';
import type { RedisClient } from './redis-types';

/** How often a counter's keys get their expiry (KEEP_MS) set again while it is in use. */
const KEPT_MS = 86_400_000;

/**
 * Lua shared by every script that writes counters: fmt() writes a number as Redis keeps it (all
 * digits, no exponent), and pending() names a reservation in a counter's pending set, as the
 * admission adds it and the settlement removes it.
 */
const PENDING = `
local function fmt(x) return string.format('%.0f', x) end
local function pending(id, amount) return id .. ':' .. fmt(amount) end
`;

/**
 * A counter is three keys (K[3i-2..3i]): its state hash (period, used, reserved, ceiling, due,
 * kept), its pending reservations (a sorted set: member `<id>:<amount>`, scored by expiry) and,
 * for reservations made before this format (member `<id>`), their amounts (a hash, only read).
 *
 * prepare() reads a counter (its three keys) brought to `period`: started from the baseline when
 * missing or older, its expired reservations ended (charged in full, or released for requests in
 * flight). It writes nothing but the removal of what it ended (or of an older period's
 * reservations); store() writes the state once, whatever else changed it. Expired reservations
 * are looked for only once one may have expired (`due`: no reservation expires before it; 'n' when
 * none is pending), and the keys' expiry is set again once a day (`kept`), so an admission costs
 * its counter three commands (HMGET, ZADD, HSET), not nine.
 * Returns the counter's state: used, reserved, ceiling, p (the stored period: newer than `period`
 * when another instance's clock moved on), and what store() needs.
 */
const PREPARE = `${PENDING}
local FIELDS = {'period', 'used', 'reserved', 'ceiling', 'due', 'kept'}

local function expire(c, now, release)
  local ended = redis.call('ZRANGEBYSCORE', c.k2, '-inf', now)
  for _, member in ipairs(ended) do
    local sep, amount = string.find(member, ':', 1, true), nil
    if sep then
      amount = tonumber(string.sub(member, sep + 1)) or 0
    else
      amount = tonumber(redis.call('HGET', c.k3, member) or '0')
      redis.call('HDEL', c.k3, member)
    end
    if not release then c.used = c.used + amount end
    c.reserved = c.reserved - amount
  end
  if #ended > 0 then redis.call('ZREMRANGEBYSCORE', c.k2, '-inf', now) end
  if c.reserved < 0 then c.reserved = 0 end
  local first = redis.call('ZRANGE', c.k2, 0, 0, 'WITHSCORES')
  c.due = tonumber(first[2]) or 'n'
end

local function prepare(k1, k2, k3, period, now, baseUsed, baseCeiling, basePeriod, keep, release)
  local c = {k1 = k1, k2 = k2, k3 = k3, keep = keep}
  local st = redis.call('HMGET', k1, 'period', 'used', 'reserved', 'ceiling', 'due', 'kept')
  if (not st[1]) or tonumber(st[1]) < period then
    c.used = 0
    if basePeriod == period then c.used = math.max(baseUsed, baseCeiling) end
    c.reserved, c.ceiling, c.p, c.due, c.was = 0, c.used, period, 'n', {}
    redis.call('DEL', k2, k3)
  else
    c.p, c.used, c.reserved, c.ceiling = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
    -- No due yet (a counter from before it was kept): look once.
    c.due = st[5] == 'n' and 'n' or tonumber(st[5] or '0')
    c.kept = tonumber(st[6])
    c.was = {c.p, c.used, c.reserved, c.ceiling, c.due, c.kept}
    if c.due ~= 'n' and c.due <= now then expire(c, now, release) end
  end
  if c.kept == nil or c.kept + ${KEPT_MS} <= now then c.kept, c.refresh = now, true end
  return c
end

local function store(c)
  local values, args = {c.p, c.used, c.reserved, c.ceiling, c.due, c.kept}, {}
  for f = 1, 6 do
    local v = values[f]
    if v ~= c.was[f] then
      args[#args + 1] = FIELDS[f]
      args[#args + 1] = v == 'n' and 'n' or fmt(v)
    end
  end
  if #args > 0 then redis.call('HSET', c.k1, unpack(args)) end
  if c.refresh then redis.call('PEXPIRE', c.k1, c.keep); redis.call('PEXPIRE', c.k2, c.keep); redis.call('PEXPIRE', c.k3, c.keep) end
end
`;

/** Values per counter in a reservation's values, after its id and n. */
const RESERVE_STRIDE = 7;

/**
 * Lua shared by RESERVE_ALL and ADMIT_ONE: reserveAll(K, k0, A, a0, now, keep, expiresAt) reserves
 * on n counters, all or none. K[k0+1..]: 3 keys per counter (see PREPARE); A[a0+1..]: the
 * reservation's id, n, then per counter its period, baseUsed, baseCeiling, basePeriod, limit,
 * amount and flags (1: durable, 2: released on expiry, 4: counted as used at once). Once every
 * counter has agreed, the amounts of all n are written, as used at once or as a reservation that
 * expires at `expiresAt`. Returns RESERVE_ALL's answer; nothing is reserved unless its status is 1.
 */
const RESERVE = `
local function reserveAll(K, k0, A, a0, now, keep, expiresAt)
  local id, n = A[a0+1], tonumber(A[a0+2])
  local figures, counters, answer = {1, -1}, {}, nil
  for i = 1, n do
    local a, k = a0 + 2 + (i - 1) * ${RESERVE_STRIDE}, k0 + 3 * i
    local period, limit, amount, flags = tonumber(A[a+1]), tonumber(A[a+5]), tonumber(A[a+6]), tonumber(A[a+7])
    local durable, release, commit = flags % 2 == 1, math.floor(flags / 2) % 2 == 1, math.floor(flags / 4) % 2 == 1
    local c = prepare(K[k-2], K[k-1], K[k], period, now, tonumber(A[a+2]), tonumber(A[a+3]), tonumber(A[a+4]), keep, release)
    counters[i] = c
    local needed = c.used + c.reserved + amount
    -- A durable counter already in a later period refuses (the caller's clock is behind); a window
    -- counts into the later period instead.
    if (c.p > period and durable) or needed > limit then answer = {0, i - 1, c.used, c.reserved}
    elseif durable and needed > c.ceiling then answer = {2, i - 1, c.used, c.reserved} end
    if answer then break end
    c.amount, c.commit = amount, commit
    figures[2 * i + 1] = c.used + (commit and amount or 0)
    figures[2 * i + 2] = c.reserved + (commit and 0 or amount)
  end
  if not answer then
    for i = 1, n do
      local c = counters[i]
      if c.commit then
        c.used = c.used + c.amount
      else
        -- Nothing pending: the set is (re)created here and gets its expiry.
        if c.reserved == 0 and not c.refresh then c.newSet = true end
        c.reserved = c.reserved + c.amount
        redis.call('ZADD', c.k2, expiresAt, pending(id, c.amount))
        if c.due == 'n' or c.due > expiresAt then c.due = expiresAt end
      end
    end
    answer = figures
  end
  for i = 1, #counters do
    store(counters[i])
    if counters[i].newSet then redis.call('PEXPIRE', counters[i].k2, keep) end
  end
  return answer
end
`;

/**
 * Reserves on n counters, all or none. KEYS: 3 per counter (see PREPARE).
 * ARGV: now, keepMs, expiresAt, then reserveAll's values (id, n, 7 per counter).
 * Returns {status, index (0-based), used, reserved, ...}: 1 all reserved (index -1, then used and
 * reserved of every counter after it), 0 counter `index` refused, 2 counter `index` needs its
 * durable ceiling raised first.
 */
const RESERVE_ALL = `${PREPARE}${RESERVE}
return reserveAll(KEYS, 0, ARGV, 3, tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]))
`;

/**
 * One admission: the key's four request windows, then every counter of the key and the levels
 * above it (reserveAll), all or none. K: RESERVE_ALL's 3n keys, then the minute, hour, day and
 * month window keys (rate-limiter-flexible's keys and values, so the windows read the same
 * whichever counted them) and last month's window key. A: reserveAll's values, then the limit of
 * each window; then 1 on a retry after a ceiling raise (the windows hold the request already: they
 * are read, not counted again). The windows last a minute, an hour and a day from their first
 * request (rate-limiter-flexible's fixed windows); the month's key is the calendar month's.
 * Returns {count, pttl} of each window (as counted, this request included), then RESERVE_ALL's
 * answer; status 3: a window is over its limit. Refused by a window or a counter, the request is
 * given back to every window (windows hold accepted requests only); status 2 (a ceiling to raise
 * first) keeps it counted for the retry.
 */
const ADMIT_ONE = `
local DURATIONS = {${WINDOW_SECONDS.minute}, ${WINDOW_SECONDS.hour}, ${WINDOW_SECONDS.day}, 0}
local function admit(K, k0, A, a0, now, keep, expiresAt)
  local n = tonumber(A[a0 + 2])
  local base, wa = k0 + 3 * n, a0 + 2 + n * ${RESERVE_STRIDE}
  -- Set on a retry after a ceiling raise: the windows hold this request already (read, not counted).
  local counted = tonumber(A[wa + 5]) == 1
  local out, over = {}, false
  for w = 1, 4 do
    local k, dur, limit = K[base + w], DURATIONS[w], tonumber(A[wa + w])
    local count, ttl
    if counted then
      count = tonumber(redis.call('GET', k) or '0')
      ttl = redis.call('PTTL', k)
    elseif dur > 0 then
      -- As rate-limiter-flexible counts (SET NX EX, INCRBY, PTTL), in two commands: a new key gets its expiry.
      count = redis.call('INCRBY', k, 1)
      ttl = redis.call('PTTL', k)
      if ttl == -1 then redis.call('EXPIRE', k, dur); ttl = 1000 * dur end
    else
      count = redis.call('INCRBY', k, 1)
      ttl = redis.call('PTTL', k)
    end
    out[2 * w - 1], out[2 * w] = count, ttl
    if count > limit and not counted then over = true end
  end
  if out[7] == 1 and not counted then redis.call('DEL', K[base + 5]) end
  local function giveBack()
    for w = 1, 4 do redis.call('DECRBY', K[base + w], 1) end
  end
  if over then
    giveBack()
    out[9], out[10] = 3, -1
    return out
  end
  local figures = reserveAll(K, k0, A, a0, now, keep, expiresAt)
  -- Refused by a counter: the request counts in no window. Waiting for a ceiling raise (status 2):
  -- it keeps its place in the windows, and the retry (its flag) does not count it again.
  if figures[1] == 0 then giveBack() end
  for j = 1, #figures do out[8 + j] = figures[j] end
  return out
end
`;

/**
 * The admissions of one tick in one script, one after another, exactly as if each were a script
 * of its own (Redis runs a script whole). ARGV: the number of admissions, now, keepMs and
 * expiresAt (the tick's, shared by all), then per admission its number of keys and its values
 * (ADMIT_ONE's A) as one JSON array; KEYS: each admission's keys (ADMIT_ONE's K) in the same
 * order. One JSON text rather than twenty-odd arguments: every argument costs ioredis about
 * 0.3 µs here (its Command copies them with Array.prototype.flat), and cjson decodes the text in C
 * into numbers, for about what Redis spent reading the arguments. Returns one answer per
 * admission: ADMIT_ONE's, or {-1, message} for an admission whose commands failed (the others are
 * not held back by it; what it did before failing stays done, as with a script of its own).
 */
const ADMIT_ALL = `${PREPARE}${RESERVE}${ADMIT_ONE}
local now, keep, expiresAt = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
-- Decoded inside the pcall: a text that did not decode would fail its own admission only.
local function admitJson(K, k0, json)
  return admit(K, k0, cjson.decode(json), 0, now, keep, expiresAt)
end
local answers, k = {}, 0
for j = 1, tonumber(ARGV[1]) do
  local nk = tonumber(ARGV[3 + 2 * j])
  local ok, answer = pcall(admitJson, KEYS, k, ARGV[4 + 2 * j])
  if ok then answers[j] = answer else answers[j] = {-1, type(answer) == 'table' and answer.err or tostring(answer)} end
  k = k + nk
end
return answers
`;

/** KEYS as one counter of RESERVE_ALL; ARGV: period, now, baseUsed, baseCeiling, basePeriod, keepMs, flags. Returns {used, reserved}. */
const USAGE = `${PREPARE}
local flags = tonumber(ARGV[7])
local c = prepare(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], math.floor(flags / 2) % 2 == 1)
store(c)
return {c.used, c.reserved}
`;

/** KEYS as one counter; ARGV: period, ceiling. Raises the ceiling of the counter's current period. */
const RAISE = `
local st = redis.call('HMGET', KEYS[1], 'period', 'ceiling')
if st[1] and tonumber(st[1]) == tonumber(ARGV[1]) and tonumber(st[2]) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'ceiling', ARGV[2])
end
return 1
`;

/** Values per settlement in SETTLE_ALL's ARGV, after n. */
const SETTLE_STRIDE = 4;

/**
 * Ends n reservations and counts what was used. KEYS: 3 per counter; ARGV: n, then per
 * settlement: period, id, used, reserved amount. A reservation no longer pending was charged in
 * full at expiry (or settled already): only use beyond its amount is added then. A counter that
 * moved to a newer period no longer owns the reservation. (Only reservations of this format are
 * settled: an instance settles its own.)
 */
const SETTLE_ALL = `${PENDING}
local n = tonumber(ARGV[1])
for i = 1, n do
  local a = 1 + (i - 1) * ${SETTLE_STRIDE}
  local k1, k2 = KEYS[3*i-2], KEYS[3*i-1]
  local st = redis.call('HMGET', k1, 'period', 'used', 'reserved')
  if st[1] and tonumber(st[1]) == tonumber(ARGV[a+1]) then
    local reserved, charge, amount = tonumber(st[3]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4])
    if redis.call('ZREM', k2, pending(ARGV[a+2], amount)) == 1 then
      reserved = math.max(0, reserved - amount)
    else
      charge = math.max(0, charge - amount)
    end
    redis.call('HSET', k1, 'used', fmt(tonumber(st[2]) + charge), 'reserved', fmt(reserved))
  end
end
return 1
`;

/** Extra room a ceiling raise takes, as a share of the limit (as in the memory ledger). */
const CEILING_HEADROOM = 0.05;
/** Counters untouched this long are dropped from Redis (they restart from the database). */
const KEEP_MS = 35 * 86_400_000;

/** Settlements waiting for Redis, at most; beyond, a reservation is left to be charged at expiry. */
const MAX_DEFERRED = 50_000;
/** Settlements per SETTLE_ALL script when a tick's settlements are sent together. */
const SETTLE_BATCH = 200;
/** Deferred settlements sent per round once Redis answers again. */
const RETRY_BATCH = 500;

/** The scripts that send a tick's worth of work in one command (see the constructor). */
const BATCHED = ['kwAdmitAll', 'kwSettleAll'];

/** Scripts over a variable number of counters take the number of keys as their first argument. */
type Scripted = RedisClient & {
  kwAdmitAll(numberOfKeys: number, ...args: (string | number)[]): Promise<(number[] | [number, string])[]>;
  kwReserveAll(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]>;
  kwUsage(...args: (string | number)[]): Promise<number[]>;
  kwRaise(...args: (string | number)[]): Promise<number>;
  kwSettleAll(numberOfKeys: number, ...args: (string | number)[]): Promise<number>;
};

/** flags of a counter in RESERVE_ALL and USAGE. */
function counterFlags(kind: CounterKind, commit = false): number {
  return (isDurable(kind) ? 1 : 0) + (releasedOnExpiry(kind) ? 2 : 0) + (commit ? 4 : 0);
}

type RedisReservation = Reservation & { readonly id: string };

/** The key's four request windows for ADMIT_ONE: keys (minute, hour, day, month, last month) and limits. */
export interface AdmitWindows {
  keys: [string, string, string, string, string];
  limits: [number, number, number, number];
}

/** What ADMIT_ONE answered: each window as counted, and the reservation unless a window refused. */
export type AdmitAnswer =
  | { windows: { count: number; pttl: number }[]; windowsOver: true; result?: undefined }
  | { windows: { count: number; pttl: number }[]; windowsOver: false; result: ReserveAllResult };

/**
 * Admissions sent in one ADMIT_ALL at most: bounds how long one script holds Redis (each
 * admission is some 20 commands) and the size of one command.
 */
const ADMIT_BATCH = 64;

/** An admission waiting for the end of its tick, to go out with the others of the tick. */
interface QueuedAdmission {
  keys: string[];
  /** ADMIT_ONE's values as one JSON array. */
  values: string;
  resolve(answer: number[]): void;
  reject(error: unknown): void;
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
  /** Admissions of this tick, sent together (see admitInTick()). */
  private admissions: QueuedAdmission[] = [];
  /** Settlements of this tick, sent together (see settleAll()). */
  private queued: { entries: Deferred[]; resolve(): void; reject(error: unknown): void }[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly idPrefix = randomBytes(9).toString('base64url');
  private idCount = 0;

  constructor(
    client: RedisClient,
    private readonly ceilings: CeilingStore,
    private readonly options: RedisLedgerOptions,
  ) {
    client.defineCommand('kwReserveAll', { lua: RESERVE_ALL });
    // A tick's admissions and a tick's settlements are each one command already: with ioredis's
    // auto-pipelining on, they go out as they are rather than wait one more turn of the event loop
    // in a pipeline of their own.
    const ignored = client.options.autoPipeliningIgnoredCommands ?? [];
    client.options.autoPipeliningIgnoredCommands = [...ignored.filter((name) => !BATCHED.includes(name)), ...BATCHED];
    client.defineCommand('kwAdmitAll', { lua: ADMIT_ALL });
    client.defineCommand('kwSettleAll', { lua: SETTLE_ALL });
    client.defineCommand('kwUsage', { numberOfKeys: 3, lua: USAGE });
    client.defineCommand('kwRaise', { numberOfKeys: 3, lua: RAISE });
    this.redis = client as Scripted;
    options.breaker?.onClose(() => void this.retryDeferred());
  }

  private call<T>(command: () => Promise<T>): Promise<T> {
    return this.options.breaker ? this.options.breaker.run(command) : command();
  }

  private keys(keyId: string, kind: CounterKind): string[] {
    // One hash tag per counter: its three keys live on one cluster slot. An admission reserves on
    // the counters of a key, its owner and its tenant in one script, so Keyward needs one Redis
    // (or a cluster proxy that runs multi-slot scripts), as the README says.
    const base = `kw:ledger:{${keyId}:${kind}}`;
    return [base, `${base}:expiries`, `${base}:amounts`];
  }

  private baselineArgs(periodStart: number, baseline: CounterBaseline, now: number): (string | number)[] {
    return [periodStart, now, baseline.used, baseline.ceiling, baseline.periodStart, KEEP_MS];
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const { result, used, reserved } = await this.reserveCounters([request]);
    return result.ok ? { ok: true, reservation: result.reservations[0], used, reserved } : { ok: false, used, reserved };
  }

  async reserveAll(requests: readonly ReserveRequest[]): Promise<ReserveAllResult> {
    return (await this.reserveCounters(requests)).result;
  }

  /** Reserves all or none; `used` and `reserved` are the refused counter's, or the first one's. */
  private async reserveCounters(requests: readonly ReserveRequest[]): Promise<{ result: ReserveAllResult; used: number; reserved: number }> {
    const id = this.reservationId();
    const keys = requests.flatMap((r) => this.keys(r.keyId, r.kind));
    for (;;) {
      const now = this.options.now?.() ?? Date.now();
      const args: (string | number)[] = [now, KEEP_MS, now + this.options.reservationTtlMs, id, requests.length];
      for (const r of requests) {
        args.push(r.periodStart, r.baseline.used, r.baseline.ceiling, r.baseline.periodStart, r.limit, r.amount, counterFlags(r.kind, r.commit));
      }
      let result: number[];
      try {
        result = await this.call(() => this.redis.kwReserveAll(keys.length, ...keys, ...args));
      } catch (error) {
        // Sent but unanswered: Redis may run it later. Release it then, or it is charged at expiry.
        if (isUnanswered(error) && !(error instanceof CircuitOpenError)) {
          // (A counter counted at once cannot be taken back: it stays counted, erring on the safe side.)
          for (const r of requests) if (!r.commit) this.defer({ reservation: this.reservationOf(r, id), used: 0 });
        }
        throw error;
      }
      const [status, index, used, reserved] = result;
      if (status === 1) {
        const counters = requests.map((_, i) => ({ used: result[2 + 2 * i], reserved: result[3 + 2 * i] }));
        return { result: { ok: true, reservations: requests.map((r) => this.reservationOf(r, id)), counters }, used, reserved };
      }
      if (status === 0) return { result: { ok: false, refused: index, used, reserved }, used, reserved };
      // The durable ceiling is raised in the database first, then in Redis, then we try again.
      const r = requests[index];
      const target = Math.min(r.limit, used + reserved + r.amount + Math.max(1, Math.ceil(r.limit * CEILING_HEADROOM)));
      await this.ceilings.raise(r.keyId, r.kind, r.periodStart, target);
      await this.call(() => this.redis.kwRaise(...this.keys(r.keyId, r.kind), r.periodStart, target));
    }
  }

  /**
   * The key's request windows and every counter of `requests` in one script (see ADMIT_ONE): the
   * windows as counted ({count, pttl} each, this request included), and the reservation, or the
   * refusal (windowsOver: a window refused; the request counts nowhere). The admissions of one
   * tick share one round trip (see admitInTick()).
   */
  async admit(windows: AdmitWindows, requests: readonly ReserveRequest[]): Promise<AdmitAnswer> {
    const id = this.reservationId();
    const keys = [...requests.flatMap((r) => this.keys(r.keyId, r.kind)), ...windows.keys];
    // After a ceiling raise the windows already hold this request (a failed retry leaves it counted:
    // one request too many in a window, the safe side).
    let retry = false;
    for (;;) {
      // The time and the reservations' expiry are the tick's (see sendAdmissions()).
      const values: number[] = [requests.length];
      for (const r of requests) {
        values.push(r.periodStart, r.baseline.used, r.baseline.ceiling, r.baseline.periodStart, r.limit, r.amount, counterFlags(r.kind, r.commit));
      }
      for (const limit of windows.limits) values.push(limit);
      values.push(retry ? 1 : 0);
      // One JSON array (the id's characters need no escaping): one argument, not twenty-odd.
      const json = `["${id}",${values.join(',')}]`;
      let out: number[];
      try {
        out = await this.admitInTick(keys, json);
      } catch (error) {
        if (isUnanswered(error) && !(error instanceof CircuitOpenError)) {
          for (const r of requests) if (!r.commit) this.defer({ reservation: this.reservationOf(r, id), used: 0 });
        }
        throw error;
      }
      const counted = [0, 1, 2, 3].map((w) => ({ count: out[2 * w], pttl: out[2 * w + 1] }));
      const [status, index, used, reserved] = out.slice(8, 12);
      if (status === 3) return { windows: counted, windowsOver: true };
      if (status === 1) {
        const counters = requests.map((_, i) => ({ used: out[10 + 2 * i], reserved: out[11 + 2 * i] }));
        return { windows: counted, windowsOver: false, result: { ok: true, reservations: requests.map((r) => this.reservationOf(r, id)), counters } };
      }
      if (status === 0) return { windows: counted, windowsOver: false, result: { ok: false, refused: index, used, reserved } };
      // A durable ceiling to raise first (the windows keep the request): raise it, then reserve again.
      const r = requests[index];
      const target = Math.min(r.limit, used + reserved + r.amount + Math.max(1, Math.ceil(r.limit * CEILING_HEADROOM)));
      await this.ceilings.raise(r.keyId, r.kind, r.periodStart, target);
      await this.call(() => this.redis.kwRaise(...this.keys(r.keyId, r.kind), r.periodStart, target));
      retry = true;
    }
  }

  /**
   * Runs one admission (ADMIT_ONE's keys and values) with the others asked for in this tick of the
   * event loop, in one ADMIT_ALL: under load a tick holds many requests (12 on average in
   * `npm run bench -- --redis` with 32 connections), and one command for all of them costs this
   * process and Redis less than one command each; Redis runs them one after another either way.
   * A failed round trip fails every admission in it (each then takes its own failure path).
   */
  private admitInTick(keys: string[], values: string): Promise<number[]> {
    return new Promise((resolve, reject) => {
      if (this.admissions.length === 0) setImmediate(() => this.sendAdmissions());
      this.admissions.push({ keys, values, resolve, reject });
    });
  }

  private sendAdmissions(): void {
    const queued = this.admissions;
    this.admissions = [];
    for (let i = 0; i < queued.length; i += ADMIT_BATCH) {
      const part = queued.slice(i, i + ADMIT_BATCH);
      const keys: string[] = [];
      const now = this.options.now?.() ?? Date.now();
      const args: (string | number)[] = [part.length, now, KEEP_MS, now + this.options.reservationTtlMs];
      for (const admission of part) {
        for (const key of admission.keys) keys.push(key);
        args.push(admission.keys.length, admission.values);
      }
      this.call(() => this.redis.kwAdmitAll(keys.length, ...keys, ...args)).then(
        (answers) => {
          part.forEach((admission, j) => {
            const answer = answers[j];
            // Its own commands failed (an error reply, as a script of its own would have had).
            if (typeof answer[1] === 'string') admission.reject(new ReplyError(answer[1]));
            else admission.resolve(answer as number[]);
          });
        },
        (error: unknown) => {
          for (const admission of part) admission.reject(error);
        },
      );
    }
  }

  /**
   * A reservation id unique across every instance sharing the Redis: this process's random prefix
   * (72 bits, drawn once) and a counter (random bytes per request cost more CPU than the rest of
   * the id's work).
   */
  private reservationId(): string {
    return `${this.idPrefix}${(this.idCount++).toString(36)}`;
  }

  private reservationOf(r: ReserveRequest, id: string): RedisReservation {
    return { keyId: r.keyId, kind: r.kind, periodStart: r.periodStart, amount: r.amount, id };
  }

  /**
   * Ends a reservation. When Redis does not answer, the settlement is kept and sent again once
   * it does (it resolves then: the caller has nothing left to do).
   */
  async settle(reservation: Reservation, used: number): Promise<void> {
    await this.settleAll([{ reservation, used }]);
  }

  /**
   * Ends reservations. The settlements of one tick (every request that ended in it) go out
   * together, SETTLE_BATCH per script, sent back to back: a few commands instead of one per
   * request. Each resolves once Redis confirmed it, or once it is kept for a retry when Redis does
   * not answer (see settle()); close() sends whatever is still queued.
   */
  settleAll(settlements: readonly Settlement[]): Promise<void> {
    const entries = settlements.map((s) => ({ reservation: s.reservation as RedisReservation, used: Math.max(0, Math.ceil(s.used)) }));
    if (entries.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (this.queued.length === 0) setImmediate(() => void this.sendQueued());
      this.queued.push({ entries, resolve, reject });
    });
  }

  /** Sends the settlements queued this tick. */
  private sendQueued(): Promise<void> {
    const waiting = this.queued;
    this.queued = [];
    if (waiting.length === 0) return Promise.resolve();
    const entries = waiting.flatMap((w) => w.entries);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < entries.length; i += SETTLE_BATCH) {
      const batch = entries.slice(i, i + SETTLE_BATCH);
      sends.push(
        this.send(batch).catch((error: unknown) => {
          if (!isUnanswered(error)) throw error;
          this.options.onFailure?.(error);
          let kept = true;
          for (const entry of batch) kept = this.defer(entry) && kept;
          if (!kept) throw error;
        }),
      );
    }
    return Promise.allSettled(sends).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      for (const w of waiting) {
        if (failed) w.reject(failed.reason);
        else w.resolve();
      }
    });
  }

  async usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Promise<CounterUsage> {
    const now = this.options.now?.() ?? Date.now();
    const [used, reserved] = await this.call(() =>
      this.redis.kwUsage(...this.keys(keyId, kind), ...this.baselineArgs(periodStart, baseline, now), counterFlags(kind)),
    );
    return { used, reserved };
  }

  async reset(keyId: string): Promise<void> {
    await this.call(() => this.redis.del(...this.keys(keyId, 'quota'), ...this.keys(keyId, 'budget')));
  }

  /** Settlements Redis has not confirmed yet (queued for this tick, or kept for a retry). */
  pendingSettlements(): number {
    return this.deferred.length + this.queued.reduce((n, w) => n + w.entries.length, 0);
  }

  /**
   * Other instances still count on Redis: nothing is lowered on one instance's stop. Unconfirmed
   * settlements get one last try (each bounded by the command timeout, none while the breaker is open).
   */
  async close(): Promise<void> {
    // Settlements of the last tick first: never lost on a graceful stop.
    await this.sendQueued();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.retryDeferred();
  }

  /** One SETTLE_ALL for the entries (one round trip however many counters a request held). */
  private send(entries: readonly Deferred[]): Promise<number> {
    const keys = entries.flatMap(({ reservation }) => this.keys(reservation.keyId, reservation.kind));
    const args: (string | number)[] = [entries.length];
    for (const { reservation, used } of entries) args.push(reservation.periodStart, reservation.id, used, reservation.amount);
    return this.call(() => this.redis.kwSettleAll(keys.length, ...keys, ...args));
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
      const results = await Promise.allSettled(batch.map((entry) => this.send([entry])));
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
