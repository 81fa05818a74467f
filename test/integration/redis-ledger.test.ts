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
