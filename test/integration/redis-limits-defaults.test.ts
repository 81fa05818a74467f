/**
 * @keyward/guard/redis as a package user sets it up: createRedisLimits({ client }) with nothing
 * else, against a private redis-server, shared by two guards (two "instances" of one app). Skipped,
 * with a notice, where redis-server is missing.
 */
import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { apiKeyAuth, cachedKeyStore, generateKey, KeyHasher, keyRecord } from '@keyward/guard';
import { createRedisLimits } from '@keyward/guard/redis';
import { freePort } from '../helpers/processes';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const describeRedis = REDIS_SERVER ? describe : describe.skip;
if (!REDIS_SERVER) process.stderr.write('[keyward] Redis limits defaults tests SKIPPED: they need redis-server (not found).\n');

describeRedis('createRedisLimits with its defaults', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startTestRedis(await freePort());
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit()));
    await redis.stop();
  });

  /** One app instance: its own client, limits and key cache, the same Redis and keys. */
  function instance(records: Map<string, ReturnType<typeof keyRecord>>, hasher: KeyHasher) {
    const client = new Redis(redis.url, { commandTimeout: 1000, lazyConnect: false });
    clients.push(client);
    const app = express();
    app.use(express.json());
    app.use(apiKeyAuth({ keys: cachedKeyStore({ findKey: async (id) => records.get(id) ?? null }), hasher, limits: createRedisLimits({ client }), maxCost: () => 2_000_000 }));
    app.post('/work', (req, res) => {
      req.apiKey?.reportUsage({ costMicroCents: 2_000_000 });
      res.json({ ok: true });
    });
    return app;
  }

  it('counts one key across two instances: its window and its budget hold exactly', async () => {
    const hasher = new KeyHasher({ 1: 'redis-defaults-secret-0123456789abcdef' });
    const windowed = generateKey('kw');
    const budgeted = generateKey('kw');
    const records = new Map([
      [windowed.id, keyRecord({ key: windowed.key, tenantId: 't', rateLimits: { perMinute: 3, perHour: null, perDay: null, perMonth: null } }, hasher)],
      [budgeted.id, keyRecord({ key: budgeted.key, tenantId: 't', budget: { limitCents: 5, period: 'total' } }, hasher)],
    ]);
    const apps = [instance(records, hasher), instance(records, hasher)];
    const call = (i: number, key: string) => request(apps[i % 2]).post('/work').set('Authorization', `Bearer ${key}`).send({});

    const windowStatuses = [];
    for (let i = 0; i < 5; i++) windowStatuses.push((await call(i, windowed.key)).status);
    expect(windowStatuses).toEqual([200, 200, 200, 429, 429]);

    // 2 cents reserved and spent per request against 5 cents: two fit, whichever instance serves.
    const budgetAnswers = [];
    for (let i = 0; i < 4; i++) budgetAnswers.push(await call(i, budgeted.key));
    expect(budgetAnswers.map((r) => r.status)).toEqual([200, 200, 402, 402]);
    expect(budgetAnswers[2].body.error.code).toBe('budget_exceeded');
  });

  it('refuses, when called, anything that is not an ioredis client', () => {
    expect(() => createRedisLimits({ client: {} as Redis })).toThrow(/`client` must be an ioredis client/);
  });
});
