/**
 * With limits in Redis, a request is admitted in one round trip (the key's four windows, its
 * budget and every other counter in one script), and answers exactly as the in-process limits
 * do: the same codes, the same rate-limit headers, the same counters.
 */
import express from 'express';
import Redis from 'ioredis';
import request from 'supertest';
import { apiKeyAuth } from '../../packages/guard/src/middleware/api-key-auth';
import { cachedKeyStore } from '../../packages/guard/src/middleware/key-store';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { KeyHasher } from '../../packages/guard/src/keys/key-hasher';
import { createMemoryLimits, type LimitBackend, volatileCeilings } from '../../packages/guard/src/limits/limits';
import { RedisBreaker } from '../../packages/guard/src/redis/redis-breaker';
import { createRedisLimits } from '../../packages/guard/src/redis/redis-limits';
import { buildKeyRecord } from '../helpers/key-record';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const describeRedis = REDIS_SERVER ? describe : describe.skip;
const hasher = new KeyHasher({ 1: 'redis-admission-secret-0123456789abcdefghijkl' });

function app(limits: LimitBackend, records: ReturnType<typeof buildKeyRecord>[]) {
  const byId = new Map(records.map((r) => [r.id, r]));
  const server = express();
  server.use(express.json());
  server.post(
    '/v1/chat',
    apiKeyAuth({ keys: cachedKeyStore({ findKey: async (id) => byId.get(id) ?? null }), hasher, limits, maxCost: () => 400, clientIp: () => '127.0.0.1' }),
    (req, res) => {
      req.apiKey?.reportUsage({ costMicroCents: 250 });
      res.json({ ok: true });
    },
  );
  return server;
}

const SHOWN = ['ratelimit-policy', 'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'retry-after'];

describeRedis('Redis admission', () => {
  let redis: TestRedis;
  let client: Redis;
  let limits: LimitBackend;
  beforeAll(async () => {
    redis = await startTestRedis(46_000 + Math.floor(Math.random() * 1000));
    client = new Redis(redis.url, { commandTimeout: 2000, maxRetriesPerRequest: 1 });
    const breaker = new RedisBreaker({ failureThreshold: 3, cooldownMs: 1000, probe: () => client.ping() });
    limits = createRedisLimits({
      client,
      breaker,
      ceilings: volatileCeilings,
      invalidKeys: { attempts: 20, windowSeconds: 60, blockSeconds: 300 },
      failureMode: 'closed',
      reservationTtlMs: 60_000,
      onFailure: () => undefined,
      oneStepAdmission: true,
    });
  });
  afterAll(async () => {
    await limits.close();
    client.disconnect();
    await redis.stop();
  });

  it('admits in one Redis command and settles a tick of requests together', async () => {
    const { key } = generateKey('kw');
    const record = buildKeyRecord({ key, rateLimits: { perMinute: 100, perHour: 1000, perDay: 10_000, perMonth: 100_000 }, budget: { limitCents: 10, period: 'monthly' } }, hasher);
    const server = app(limits, [record]);
    await request(server).post('/v1/chat').set('authorization', `Bearer ${key}`).expect(200);
    // Settlements of the first request are out; count what one more request sends.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const sent = jest.spyOn(client, 'sendCommand');
    await request(server).post('/v1/chat').set('authorization', `Bearer ${key}`).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const names = sent.mock.calls.map(([command]) => `${command.name}:${String(command.args[0]).slice(0, 8)}`);
    sent.mockRestore();
    // The admission (windows, budget) and the settlement: one script each.
    expect(names).toHaveLength(2);
    expect(names.every((n) => n.startsWith('evalsha'))).toBe(true);
  });

  it('an admission of a key in use costs Redis eleven commands: two per window, three for its budget', async () => {
    const keyId = generateKey('kw').id;
    const rateLimits = { perMinute: 100, perHour: 1000, perDay: 10_000, perMonth: 100_000 };
    const budget = { keyId, kind: 'budget' as const, periodStart: 0, limit: 1_000_000, amount: 400, baseline: { used: 0, ceiling: 0, periodStart: 0 } };
    const admit = limits.admit as NonNullable<LimitBackend['admit']>;
    await admit(keyId, rateLimits, [budget]); // the key's windows and counter exist from here on
    await client.config('RESETSTAT');
    const admitted = await admit(keyId, rateLimits, [budget]);
    const stats = await client.info('commandstats');
    expect(admitted.rate.allowed).toBe(true);
    expect(admitted.result).toMatchObject({ ok: true, counters: [{ used: 0, reserved: 800 }] });
    const calls = Object.fromEntries([...stats.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)].map(([, name, count]) => [name, Number(count)]));
    for (const name of ['info', 'config|resetstat', 'evalsha', 'eval']) delete calls[name];
    // The windows as rate-limiter-flexible keeps them (without its SET NX first), the budget as RESERVE_ALL reserves.
    expect(calls).toEqual({ incrby: 4, pttl: 4, hmget: 1, zadd: 1, hset: 1 });
  });

  it("with ioredis's auto-pipelining on, a tick's admissions and settlements go out as they are, not in a pipeline of their own", async () => {
    const piped = new Redis(redis.url, { commandTimeout: 2000, maxRetriesPerRequest: 1, enableAutoPipelining: true, autoPipeliningIgnoredCommands: ['get'] });
    const own = createRedisLimits({ client: piped, ceilings: volatileCeilings, failureMode: 'closed', reservationTtlMs: 60_000, onFailure: () => undefined });
    try {
      const keyId = generateKey('kw').id;
      const rateLimits = { perMinute: 100, perHour: 1000, perDay: 10_000, perMonth: 100_000 };
      const budget = { keyId, kind: 'budget' as const, periodStart: 0, limit: 1_000_000, amount: 400, baseline: { used: 0, ceiling: 0, periodStart: 0 } };
      const admit = own.admit as NonNullable<LimitBackend['admit']>;
      await admit(keyId, rateLimits, [budget]); // scripts loaded, the ceiling raised
      const pipelines = jest.spyOn(piped, 'pipeline');
      const answers = await Promise.all([admit(keyId, rateLimits, [budget]), admit(keyId, rateLimits, [budget])]);
      const reservations = answers.map((answer) => (answer.result?.ok ? answer.result.reservations[0] : null));
      expect(reservations.every(Boolean)).toBe(true);
      await own.ledger.settleAll(reservations.map((reservation) => ({ reservation: reservation!, used: 100 })));
      expect(pipelines).not.toHaveBeenCalled();
      pipelines.mockRestore();
      // The client's own list is kept.
      expect(piped.options.autoPipeliningIgnoredCommands).toContain('get');
    } finally {
      await own.close();
      piped.disconnect();
    }
  });

  it('sends the admissions of one tick in one command, each answered as if it went alone', async () => {
    const failures: unknown[] = [];
    const batched = createRedisLimits({
      client,
      ceilings: volatileCeilings,
      failureMode: 'closed',
      reservationTtlMs: 60_000,
      onFailure: (error) => failures.push(error),
      oneStepAdmission: true,
    });
    const admit = batched.admit as NonNullable<LimitBackend['admit']>;
    const rateLimits = { perMinute: 5, perHour: 1000, perDay: 10_000, perMonth: 100_000 };
    const [a, b, broken, spent] = [generateKey('kw').id, generateKey('kw').id, generateKey('kw').id, generateKey('kw').id];
    // A quota with no room left: refused by the counter, so given back to its windows.
    const noRoom = { keyId: spent, kind: 'quota' as const, periodStart: 0, limit: 0, amount: 1, baseline: { used: 0, ceiling: 0, periodStart: 0 } };
    // A window key of the wrong type: that admission's commands fail, in the middle of the tick.
    await client.hset(`kw:rl:minute:${broken}`, 'not', 'a counter');
    const sent = jest.spyOn(client, 'sendCommand');
    const answers = await Promise.all([
      ...Array.from({ length: 6 }, () => admit(a, rateLimits, [])),
      admit(broken, rateLimits, []),
      ...Array.from({ length: 6 }, () => admit(a, rateLimits, [])),
      admit(b, rateLimits, []),
      admit(spent, rateLimits, [noRoom]),
    ]);
    const names = sent.mock.calls.map(([command]) => command.name);
    const args = sent.mock.calls[0][0].args;
    sent.mockRestore();
    // One script for all fifteen (EVAL the first time this connection runs it, EVALSHA after).
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^eval(sha)?$/);
    // After the script and its keys: the tick's four values, then two per admission (its number of
    // keys and its values as one text): each argument costs the client, so none is one per value.
    expect(args.length - 2 - Number(args[1])).toBe(4 + 2 * 15);
    // In the order asked: the first five of a's twelve pass its minute window, as one by one.
    const aAllowed = [...answers.slice(0, 6), ...answers.slice(7, 13)].map((answer) => answer.rate.allowed);
    expect(aAllowed).toEqual([true, true, true, true, true, false, false, false, false, false, false, false]);
    expect(answers[13].rate).toMatchObject({ allowed: true, windows: [{ window: 'minute', used: 1, remaining: 4 }, { used: 1 }, { used: 1 }, { used: 1 }] });
    expect(Number(await client.get(`kw:rl:minute:${a}`))).toBe(5);
    expect(Number(await client.get(`kw:rl:minute:${b}`))).toBe(1);
    expect(answers[14].result).toMatchObject({ ok: false, refused: 0 });
    expect(Number(await client.get(`kw:rl:minute:${spent}`))).toBe(0);
    // Each window created with its length (the month's runs to the calendar month's end).
    for (const [window, seconds] of [['minute', 60], ['hour', 3_600], ['day', 86_400]] as const) {
      const ttl = await client.pttl(`kw:rl:${window}:${b}`);
      expect(ttl).toBeGreaterThan((seconds - 5) * 1000);
      expect(ttl).toBeLessThanOrEqual(seconds * 1000);
    }
    // The broken one alone failed (an error reply, so Redis is not taken for down): it was
    // counted in this process instead, as any admission whose script fails.
    expect(failures).toHaveLength(1);
    expect(String(failures[0])).toMatch(/WRONGTYPE/);
    expect(answers[6].rate.allowed).toBe(true);
    await batched.close();
  });

  it('answers as the in-process limits do: windows, budget refusals and headers', async () => {
    const memory = createMemoryLimits();
    const run = async (backend: LimitBackend) => {
      const { key } = generateKey('kw');
      const record = buildKeyRecord({ key, rateLimits: { perMinute: 3, perHour: 1000, perDay: 10_000, perMonth: 100_000 }, budget: { limitCents: 1, period: 'monthly' } }, hasher);
      const server = app(backend, [record]);
      const answers: unknown[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await request(server).post('/v1/chat').set('authorization', `Bearer ${key}`);
        answers.push([res.status, res.body.error?.code ?? null, ...SHOWN.map((h) => res.headers[h] ?? null), String(res.headers.ratelimit).replace(/t=\d+/, 't=…')]);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return answers;
    };
    const inMemory = await run(memory);
    const inRedis = await run(limits);
    await memory.close();
    expect(inRedis).toEqual(inMemory);
    // Three a minute: the fourth and fifth are refused by the minute window.
    expect(inMemory.map((a) => (a as unknown[])[1])).toEqual([null, null, null, 'rate_limited', 'rate_limited']);
  });
});
