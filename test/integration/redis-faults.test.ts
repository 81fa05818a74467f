/**
 * A Redis that stops answering without closing its sockets (SIGSTOP on this suite's private
 * redis-server) is handled like a dead one: no /api request waits more than about a second for
 * it, rate windows and invalid-key counting fall back to this instance, budgets follow
 * REDIS_FAILURE_MODE (closed: 503), /healthz says so within 2 s, and everything recovers after
 * SIGCONT without a restart. The app runs in this process on SQLite; no PostgreSQL needed.
 * Skipped, with a notice, where redis-server is missing.
 */
import request from 'supertest';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { chatBody, createTestApp, type TestApp } from '../helpers/app';
import { freePort } from '../helpers/processes';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const describeRedis = REDIS_SERVER ? describe : describe.skip;
if (!REDIS_SERVER) {
  process.stderr.write('[keyward] Redis fault tests SKIPPED: they need redis-server (not found).\n');
}

const COMMAND_TIMEOUT_MS = 250;
const COOLDOWN_MS = 1000;

let redis: TestRedis;
let t: TestApp;
let plain: string;
let budgeted: string;
let closed = false;

async function timed<T>(call: () => PromiseLike<T>): Promise<{ res: T; ms: number }> {
  const started = performance.now();
  const res = await call();
  return { res, ms: Math.round(performance.now() - started) };
}

const models = (key: string) => request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${key}`);
const chat = (key: string) => request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send(chatBody());
const health = () => request(t.app).get('/healthz');

/** Waits until /healthz reports Redis `up` (subscribed, breaker closed). */
async function redisUp(withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if ((await health()).body.checks.redis.status === 'up') return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Lets Redis run until the app sees it answer (breaker closed), then stalls it again. */
async function freshStall(): Promise<void> {
  redis.resume();
  expect(await redisUp(5000)).toBe(true);
  redis.pause();
}

async function startApp(failureMode: 'closed' | 'open'): Promise<TestApp> {
  const app = await createTestApp('sqlite', {
    config: { redis: { url: redis.url, failureMode, commandTimeoutMs: COMMAND_TIMEOUT_MS, breakerCooldownMs: COOLDOWN_MS } },
  });
  await app.ctx.ready();
  return app;
}

describeRedis('a stalled Redis (SIGSTOP)', () => {
  beforeAll(async () => {
    redis = await startTestRedis(await freePort());
  });

  afterAll(async () => {
    redis?.resume();
    await redis?.stop();
  });

  describe('REDIS_FAILURE_MODE=closed', () => {
    beforeAll(async () => {
      t = await startApp('closed');
      expect(await redisUp(5000)).toBe(true);
      plain = (await t.issue({ tier: 'enterprise' })).key;
      budgeted = (await t.issue({ tier: 'enterprise', budget: { limitCents: 1000, period: 'monthly' } })).key;
      // Warm up: keys cached, scripts loaded, Redis known to answer.
      expect((await models(plain)).status).toBe(200);
      expect((await chat(budgeted)).status).toBe(200);
      expect(await redisUp(5000)).toBe(true);
      redis.pause();
    }, 30_000);

    afterAll(async () => {
      redis?.resume();
      if (!closed) await t?.close();
    }, 30_000);

    it('answers a key without quota or budget within about a second, then without waiting for Redis', async () => {
      const latencies: number[] = [];
      for (let i = 0; i < 8; i += 1) {
        const { res, ms } = await timed(() => models(plain));
        expect(res.status).toBe(200);
        latencies.push(ms);
      }
      process.stderr.write(`[redis-faults] plain key during a stall (ms): ${latencies.join(', ')}\n`);
      for (const ms of latencies) expect(ms).toBeLessThan(1500);
      // The breaker is open after the first requests: the rest do not touch Redis.
      for (const ms of latencies.slice(3)) expect(ms).toBeLessThan(200);
    });

    it('refuses a budgeted key with 503 limits_unavailable within about a second', async () => {
      const { res, ms } = await timed(() => chat(budgeted));
      process.stderr.write(`[redis-faults] budget key during a stall: ${res.status} in ${ms} ms\n`);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('limits_unavailable');
      expect(res.headers['retry-after']).toBe('1');
      expect(ms).toBeLessThan(1500);
    });

    it('answers an invalid key 401 within about a second (counted in this instance)', async () => {
      const latencies: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        const { res, ms } = await timed(() => models(generateKey('kw').key));
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('invalid_api_key');
        latencies.push(ms);
      }
      process.stderr.write(`[redis-faults] invalid key during a stall (ms): ${latencies.join(', ')}\n`);
      for (const ms of latencies) expect(ms).toBeLessThan(1500);
    });

    it('reports Redis down in /healthz within 2 s, and stays 200 (the instance still serves)', async () => {
      const { res, ms } = await timed(() => health());
      process.stderr.write(`[redis-faults] /healthz during a stall: ${res.status} in ${ms} ms, ${JSON.stringify(res.body.checks.redis)}\n`);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('degraded');
      expect(res.body.checks.redis.status).toBe('down');
      expect(res.body.checks.redis.detail).toMatch(/^circuit open/);
      expect(res.body.checks.database.status).toBe('up');
      expect(ms).toBeLessThan(2000);
    });

    it('recovers after SIGCONT without a restart', async () => {
      redis.resume();
      const deadline = Date.now() + 10_000;
      let budget = await chat(budgeted);
      while (budget.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        budget = await chat(budgeted);
      }
      expect(budget.status).toBe(200);
      const { res, ms } = await timed(() => health());
      expect(res.body.checks.redis).toMatchObject({ status: 'up' });
      expect(res.body.status).toBe('ok');
      expect(ms).toBeLessThan(500);
      expect((await models(plain)).status).toBe(200);
    }, 15_000);

    it('answers the first request of each kind after a fresh stall (breaker still closed) within about a second', async () => {
      const both = (await t.issue({ tier: 'enterprise', usageLimit: 1000, budget: { limitCents: 1000, period: 'monthly' } })).key;
      expect((await chat(both)).status).toBe(200);
      const cases: [string, () => PromiseLike<request.Response>, number][] = [
        ['plain key', () => models(plain), 200],
        ['budget key', () => chat(budgeted), 503],
        ['quota and budget key', () => chat(both), 503],
        ['invalid key', () => models(generateKey('kw').key), 401],
        ['/healthz', () => health(), 200],
      ];
      const seen: string[] = [];
      for (const [label, call, status] of cases) {
        await freshStall();
        const { res, ms } = await timed(call);
        seen.push(`${label} ${res.status} in ${ms} ms`);
        expect(res.status).toBe(status);
        expect(ms).toBeLessThan(label === '/healthz' ? 2000 : 1500);
      }
      process.stderr.write(`[redis-faults] first request after a fresh stall: ${seen.join('; ')}\n`);
    }, 30_000);

    it('stops within 2 s while Redis is stalled (Redis connections are not waited for)', async () => {
      await freshStall();
      const { ms } = await timed(async () => {
        closed = true;
        await t.close();
      });
      process.stderr.write(`[redis-faults] close during a stall: ${ms} ms\n`);
      expect(ms).toBeLessThan(2000);
    });
  });

  describe('REDIS_FAILURE_MODE=open', () => {
    let app: TestApp;
    afterAll(async () => {
      redis?.resume();
      await app?.close();
    });

    it('lets a budgeted key through unchecked within about a second', async () => {
      redis.resume();
      app = await startApp('open');
      const { key } = await app.issue({ tier: 'enterprise', budget: { limitCents: 1000, period: 'monthly' } });
      const send = () => request(app.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send(chatBody());
      expect((await send()).status).toBe(200);
      redis.pause();
      for (let i = 0; i < 3; i += 1) {
        const { res, ms } = await timed(send);
        expect(res.status).toBe(200);
        expect(ms).toBeLessThan(1500);
      }
    }, 30_000);
  });
});
