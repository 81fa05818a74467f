/**
 * Property-based fuzzing (fast-check) of what clients send: key create and update bodies, chat
 * bodies and the Authorization header. Whatever arrives: no answer is a 5xx, and a refused request
 * writes nothing (no key, no audit event) and consumes nothing (quota, budget and rate windows of
 * the key are untouched). `npm test` runs a few hundred cases per target on each database;
 * `npm run fuzz` runs 10,000+ (FUZZ_RUNS).
 */
import fc from 'fast-check';
import request from 'supertest';
import { limitStatus } from '../../packages/guard/src/limits/limit-status';
import { createTestApp, type TestApp } from '../helpers/app';
import { availableProviders } from '../helpers/databases';
import { authorizationValue, chatBodyText, keyBodyText, RUNS } from './arbitraries';

jest.setTimeout(Math.max(120_000, RUNS * 60));

describe.each(availableProviders)('on %s', (provider) => {
  let t: TestApp;
  let admin: string;

  beforeAll(async () => {
    t = await createTestApp(provider);
    admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
  });
  afterAll(async () => t.close());

  // Whatever the bodies held, what the guard recorded about them (request log, outcomes, usage) can
  // be written: one unstorable value would fail every usage batch it is in.
  afterEach(async () => {
    await t.ctx.usage.flush();
    expect(t.ctx.usage.isEmpty()).toBe(true);
  });

  const counts = async () => {
    const db = t.ctx.database.prisma;
    const [keys, audit, tags] = await Promise.all([db.apiKey.count(), db.auditEvent.count(), db.apiKeyTag.count()]);
    return { keys, audit, tags };
  };

  const send = (method: 'post' | 'patch', path: string, body: string, key = admin) =>
    request(t.app)[method](path).set('Authorization', `Bearer ${key}`).set('Content-Type', 'application/json').send(body);

  test('create bodies: never a 5xx; a refused body writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(keyBodyText, async (body) => {
        const before = await counts();
        const res = await send('post', '/api/v1/keys', body);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) {
          expect(res.body.error.code).toEqual(expect.any(String));
          expect(await counts()).toEqual(before);
        } else {
          expect(res.status).toBe(201);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('update bodies: never a 5xx; a refused body changes nothing', async () => {
    const { apiKey } = await t.issue({ name: 'fuzz target', tags: ['a'] });
    await fc.assert(
      fc.asyncProperty(keyBodyText, async (body) => {
        const before = await counts();
        const record = JSON.stringify(await t.ctx.database.prisma.apiKey.findUnique({ where: { id: apiKey.id } }), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
        const res = await send('patch', `/api/v1/keys/${apiKey.id}`, body);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) {
          expect(await counts()).toEqual(before);
          const after = JSON.stringify(await t.ctx.database.prisma.apiKey.findUnique({ where: { id: apiKey.id } }), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
          expect(after).toBe(record);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('chat bodies: never a 5xx; a refused body consumes no quota, budget or window', async () => {
    const { key, apiKey } = await t.issue({
      usageLimit: 100_000_000,
      budget: { limitCents: 1_000_000, period: 'total' },
      rateLimits: { perMinute: 10_000, perHour: 100_000, perDay: 1_000_000, perMonth: 30_000_000 },
    });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(chatBodyText, async (body) => {
        const res = await send('post', '/api/v1/chat/completions', body, key);
        expect(res.status).toBeLessThan(500);
        if (res.status < 400) accepted += 1;
        const record = await t.ctx.keys.findById(apiKey.id);
        const status = await limitStatus(t.ctx.limits, record!);
        // Only accepted requests count: every refusal left the quota and the minute window alone.
        expect(status.quota?.used).toBe(accepted);
        expect(status.rateLimits.find((w) => w.window === 'minute')?.remaining).toBe(10_000 - accepted);
        if (res.status >= 400) expect(res.body.error.code).toEqual(expect.any(String));
      }),
      { numRuns: RUNS },
    );
    const record = await t.ctx.keys.findById(apiKey.id);
    const status = await limitStatus(t.ctx.limits, record!);
    expect(status.budget?.remainingCents).toBeGreaterThan(0);
  });

  test('Authorization header: never a 5xx; nothing is counted for a refused key', async () => {
    const { key, apiKey } = await t.issue({ usageLimit: 100_000_000, rateLimits: { perMinute: 10_000 } });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(authorizationValue(key), async (authorization) => {
        const res = await request(t.app).get('/api/v1/models').set('Authorization', authorization);
        expect(res.status).toBeLessThan(500);
        if (res.status === 200) accepted += 1;
        else expect([401, 429]).toContain(res.status);
        const record = await t.ctx.keys.findById(apiKey.id);
        expect((await limitStatus(t.ctx.limits, record!)).quota?.used).toBe(accepted);
      }),
      { numRuns: RUNS },
    );
  });
});
