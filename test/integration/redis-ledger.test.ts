/**
 * The Redis ledger against a private redis-server: a reservation whose instance never settles it
 * is charged in full when it expires (not released), a late settlement never counts twice, and
 * settlements (and releases of reservations whose RESERVE timed out) that a stalled Redis did not
 * answer are sent again once it does. Skipped, with a notice, where redis-server is missing.
 */
import { volatileCeilings } from '../../packages/guard/src/limits/limits';
import type { ReserveRequest } from '../../packages/guard/src/limits/ledger';
import { CircuitOpenError, RedisBreaker } from '../../packages/guard/src/redis/redis-breaker';
import { closeRedis, createRedisClient, type RedisClient, whenReady } from '../../src/redis/redis-client';
import { RedisLedger } from '../../packages/guard/src/redis/redis-ledger';
import { createLogger } from '../../src/logger';
import { freePort } from '../helpers/processes';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const describeRedis = REDIS_SERVER ? describe : describe.skip;
if (!REDIS_SERVER) {
  process.stderr.write('[keyward] Redis ledger tests SKIPPED: they need redis-server (not found).\n');
}

const TTL_MS = 1000;
let redis: TestRedis;
let client: RedisClient;
let clock = 1_000_000;
let keyCounter = 0;

const request = (overrides: Partial<ReserveRequest> = {}): ReserveRequest => ({
  keyId: `key-${(keyCounter += 1)}`,
  kind: 'budget',
  periodStart: 0,
  limit: 10_000,
  amount: 400,
  baseline: { used: 0, ceiling: 0, periodStart: 0 },
  ...overrides,
});

const ledgerWith = (breaker?: RedisBreaker) =>
  new RedisLedger(client, volatileCeilings, { reservationTtlMs: TTL_MS, breaker, retryMs: 50, now: () => clock });

const usageOf = (ledger: RedisLedger, req: ReserveRequest) => ledger.usage(req.keyId, req.kind, req.periodStart, req.baseline);

async function reserved(ledger: RedisLedger, req: ReserveRequest) {
  const result = await ledger.reserve(req);
  if (!result.ok) throw new Error('reservation refused');
  return result.reservation;
}

describeRedis('RedisLedger', () => {
  beforeAll(async () => {
    redis = await startTestRedis(await freePort());
    client = createRedisClient({ url: redis.url, commandTimeoutMs: 250 }, createLogger('silent'), 'ledger-test');
    expect(await whenReady(client, 5000)).toBe(true);
  });

  afterAll(async () => {
    redis?.resume();
    if (client) await closeRedis(client);
    await redis?.stop();
  });

  describe('several counters in one step (a key, its owner, its tenant)', () => {
    it('reserves on all counters or none: a refusal at the second leaves the first untouched', async () => {
      const ledger = ledgerWith();
      const key = request({ amount: 300 });
      const tenant = request({ amount: 300, limit: 500 });
      const first = await ledger.reserveAll([key, tenant]);
      expect(first).toMatchObject({ ok: true, counters: [{ used: 0, reserved: 300 }, { used: 0, reserved: 300 }] });
      expect(await ledger.reserveAll([key, tenant])).toEqual({ ok: false, refused: 1, used: 0, reserved: 300 });
      expect(await usageOf(ledger, key)).toEqual({ used: 0, reserved: 300 });
      if (!first.ok) throw new Error('refused');
      await ledger.settleAll(first.reservations.map((reservation) => ({ reservation, used: 120 })));
      expect(await usageOf(ledger, key)).toEqual({ used: 120, reserved: 0 });
      expect(await usageOf(ledger, tenant)).toEqual({ used: 120, reserved: 0 });
    });

    it('two instances reserving on one shared counter at once never pass its limit', async () => {
      const other = createRedisClient({ url: redis.url, commandTimeoutMs: 1000 }, createLogger('silent'), 'ledger-test-2');
      expect(await whenReady(other, 5000)).toBe(true);
      try {
        const a = ledgerWith();
        const b = new RedisLedger(other, volatileCeilings, { reservationTtlMs: TTL_MS, now: () => clock });
        const tenant = request({ amount: 137, limit: 10_000 });
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).reserveAll([request({ amount: 137, limit: 1_000_000 }), tenant])),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(Math.floor(10_000 / 137));
        expect(await usageOf(a, tenant)).toEqual({ used: 0, reserved: Math.floor(10_000 / 137) * 137 });
      } finally {
        await closeRedis(other);
      }
    });

    it('counts committed counters as used at once; releases (not charges) expired requests in flight', async () => {
      const ledger = ledgerWith();
      const window = request({ kind: 'requests:minute', amount: 1, limit: 2, commit: true, periodStart: 60_000 });
      const inFlight = request({ kind: 'concurrent', amount: 1, limit: 1 });
      expect((await ledger.reserveAll([window, inFlight])).ok).toBe(true);
      expect(await usageOf(ledger, window)).toEqual({ used: 1, reserved: 0 });
      expect(await ledger.reserveAll([inFlight])).toMatchObject({ ok: false, refused: 0 });
      clock += TTL_MS + 1;
      expect(await usageOf(ledger, inFlight)).toEqual({ used: 0, reserved: 0 });
      expect((await ledger.reserveAll([inFlight])).ok).toBe(true);
    });

    it('a window counter moves to the newer period another instance already uses', async () => {
      const ledger = ledgerWith();
      const next = request({ kind: 'tokens:minute', amount: 10, limit: 100, periodStart: 120_000 });
      expect((await ledger.reserveAll([next])).ok).toBe(true);
      // An instance whose clock is a little behind still counts into the current minute.
      const behind = await ledger.reserveAll([{ ...next, periodStart: 60_000 }]);
      expect(behind).toMatchObject({ ok: true, counters: [{ used: 0, reserved: 20 }] });
    });
  });

  it('charges a reservation in full when it expires unsettled (its instance died), and frees the reserved room', async () => {
    const ledger = ledgerWith();
    const req = request();
    await reserved(ledger, req);
    expect(await usageOf(ledger, req)).toEqual({ used: 0, reserved: 400 });

    clock += TTL_MS - 1;
    expect(await usageOf(ledger, req)).toEqual({ used: 0, reserved: 400 });
    clock += 2;
    expect(await usageOf(ledger, req)).toEqual({ used: 400, reserved: 0 });
    // Charged once: looking again changes nothing.
    expect(await usageOf(ledger, req)).toEqual({ used: 400, reserved: 0 });
  });

  it('a settlement arriving after the expiry charge adds only use beyond the reserved amount', async () => {
    const ledger = ledgerWith();
    const req = request();
    const first = await reserved(ledger, req);
    const second = await reserved(ledger, req);
    clock += TTL_MS + 1;
    expect(await usageOf(ledger, req)).toEqual({ used: 800, reserved: 0 });

    await ledger.settle(first, 250); // less than reserved: already charged in full
    expect(await usageOf(ledger, req)).toEqual({ used: 800, reserved: 0 });
    await ledger.settle(second, 450); // overran its estimate by 50
    expect(await usageOf(ledger, req)).toEqual({ used: 850, reserved: 0 });
  });

  it('settled in time, a reservation counts what was used, once', async () => {
    const ledger = ledgerWith();
    const req = request();
    const reservation = await reserved(ledger, req);
    await ledger.settle(reservation, 120);
    await ledger.settle(reservation, 120); // a repeated settlement
    clock += TTL_MS + 1;
    expect(await usageOf(ledger, req)).toEqual({ used: 120, reserved: 0 });
  });

  describe('what a reservation costs Redis, and what it leaves there', () => {
    const DAY_MS = 86_400_000;
    const keysOf = (req: ReserveRequest) => {
      const base = `kw:ledger:{${req.keyId}:${req.kind}}`;
      return { state: base, pending: `${base}:expiries`, amounts: `${base}:amounts` };
    };

    /** The commands Redis ran (scripts' own commands included) while `work` ran: name -> calls. */
    async function commandsRun(work: () => Promise<unknown>): Promise<Record<string, number>> {
      await client.config('RESETSTAT');
      await work();
      const stats = (await client.info('commandstats')) as string;
      const calls: Record<string, number> = {};
      for (const [, name, count] of stats.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) calls[name] = Number(count);
      for (const name of ['info', 'config|resetstat', 'evalsha', 'eval']) delete calls[name];
      return calls;
    }

    it('a reservation and a settlement on a counter in use cost three commands each', async () => {
      const ledger = ledgerWith();
      const req = request();
      await ledger.settle(await reserved(ledger, req), 100); // the counter exists, its keys have their expiry
      await reserved(ledger, req); // one still pending
      let reservation: Awaited<ReturnType<typeof reserved>> | undefined;
      expect(await commandsRun(async () => (reservation = await reserved(ledger, req)))).toEqual({ hmget: 1, zadd: 1, hset: 1 });
      expect(await commandsRun(() => ledger.settle(reservation!, 150))).toEqual({ hmget: 1, zrem: 1, hset: 1 });
      expect(await usageOf(ledger, req)).toEqual({ used: 250, reserved: 400 });
    });

    it('looks for expired reservations only once one may have expired, and still charges each in full', async () => {
      const ledger = ledgerWith();
      const req = request();
      await reserved(ledger, req);
      clock += TTL_MS / 2;
      const second = await reserved(ledger, req);
      expect((await commandsRun(() => usageOf(ledger, req))).zrangebyscore).toBeUndefined();
      clock += TTL_MS / 2; // the first has expired, the second not yet
      expect((await commandsRun(() => usageOf(ledger, req))).zrangebyscore).toBe(1);
      expect(await usageOf(ledger, req)).toEqual({ used: 400, reserved: 400 });
      // Until the second may have expired, nothing is looked for again.
      expect((await commandsRun(() => usageOf(ledger, req))).zrangebyscore).toBeUndefined();
      await ledger.settle(second, 50);
      clock += TTL_MS;
      expect(await usageOf(ledger, req)).toEqual({ used: 450, reserved: 0 });
    });

    it("a counter's keys expire when unused: set when created, set again once a day, and on a pending set made anew", async () => {
      const ledger = ledgerWith();
      const req = request();
      const { state, pending, amounts } = keysOf(req);
      await reserved(ledger, req);
      expect(await client.pttl(state)).toBeGreaterThan(30 * DAY_MS);
      expect(await client.pttl(pending)).toBeGreaterThan(30 * DAY_MS);
      await client.persist(state);
      await client.persist(pending);
      clock += DAY_MS - 10_000;
      await reserved(ledger, req);
      expect(await client.pttl(state)).toBe(-1); // within the day: not set again
      clock += 20_000;
      await reserved(ledger, req);
      expect(await client.pttl(state)).toBeGreaterThan(30 * DAY_MS);
      expect(await client.pttl(pending)).toBeGreaterThan(30 * DAY_MS);
      // Every reservation ended: Redis drops the empty set; the next reservation makes it again, with its expiry.
      clock += TTL_MS + 1;
      expect(await usageOf(ledger, req)).toEqual({ used: 1200, reserved: 0 });
      expect(await client.exists(pending)).toBe(0);
      await reserved(ledger, req);
      expect(await client.pttl(pending)).toBeGreaterThan(30 * DAY_MS);
      expect(await client.exists(amounts)).toBe(0); // amounts travel in the set's members now
    });

    it('a reservation made in the earlier format (its amount in a hash) is charged in full when it expires', async () => {
      const ledger = ledgerWith();
      const req = request();
      const { state, pending, amounts } = keysOf(req);
      // As an instance of the earlier version left it: no due or kept fields, the amount apart.
      await client.hset(state, 'period', '0', 'used', '100', 'reserved', '400', 'ceiling', '10000');
      await client.zadd(pending, clock + TTL_MS, 'old-instance-1');
      await client.hset(amounts, 'old-instance-1', '400');
      expect(await usageOf(ledger, req)).toEqual({ used: 100, reserved: 400 });
      clock += TTL_MS + 1;
      expect(await usageOf(ledger, req)).toEqual({ used: 500, reserved: 0 });
      expect(await client.hlen(amounts)).toBe(0);
      expect(await client.zcard(pending)).toBe(0);
    });
  });

  describe('with a stalled Redis (SIGSTOP)', () => {
    let breaker: RedisBreaker;
    beforeEach(() => {
      breaker = new RedisBreaker({ failureThreshold: 3, cooldownMs: 300, probe: () => client.ping() });
    });
    afterEach(() => {
      redis.resume();
      breaker?.close();
    });

    async function until(condition: () => boolean, withinMs: number) {
      const deadline = Date.now() + withinMs;
      while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      return condition();
    }

    it('keeps a settlement Redis did not answer and sends it once Redis is back', async () => {
      const ledger = ledgerWith(breaker);
      const req = request();
      const reservation = await reserved(ledger, req);
      redis.pause();
      const started = Date.now();
      await ledger.settle(reservation, 130); // resolves: the settlement is kept, not lost
      expect(Date.now() - started).toBeLessThan(1000);
      expect(ledger.pendingSettlements()).toBe(1);
      redis.resume();
      expect(await until(() => ledger.pendingSettlements() === 0, 5000)).toBe(true);
      clock += TTL_MS + 1;
      // Redis ran the timed-out SETTLE on waking and the retry found nothing left to charge.
      expect(await usageOf(ledger, req)).toEqual({ used: 130, reserved: 0 });
    });

    it('releases a reservation whose RESERVE timed out (Redis ran it on waking), so it is not charged at expiry', async () => {
      const ledger = ledgerWith(breaker);
      const req = request();
      // Room under the ceiling first, so that the stalled RESERVE does reserve when Redis runs it.
      await ledger.settle(await reserved(ledger, req), 0);
      redis.pause();
      const started = Date.now();
      await expect(ledger.reserve(req)).rejects.toThrow('Command timed out');
      expect(Date.now() - started).toBeLessThan(1000);
      redis.resume();
      expect(await until(() => ledger.pendingSettlements() === 0, 5000)).toBe(true);
      clock += TTL_MS + 1;
      expect(await usageOf(ledger, req)).toEqual({ used: 0, reserved: 0 });
    });

    it('does not ask Redis while the breaker is open', async () => {
      const ledger = ledgerWith(breaker);
      const req = request();
      redis.pause();
      for (let i = 0; i < 3; i += 1) await expect(ledger.usage(req.keyId, 'budget', 0, req.baseline)).rejects.toThrow('Command timed out');
      expect(breaker.state).toBe('open');
      const started = Date.now();
      await expect(ledger.reserve(req)).rejects.toBeInstanceOf(CircuitOpenError);
      expect(Date.now() - started).toBeLessThan(50);
      expect(ledger.pendingSettlements()).toBe(0); // never sent: nothing to release
      redis.resume();
      expect(await until(() => breaker.state === 'closed', 3000)).toBe(true);
      expect((await ledger.reserve(req)).ok).toBe(true);
    });
  });
});
