/**
 * Tenant and owner limits through the management API and the /api guard: GET/PATCH
 * /api/v1/tenant and /api/v1/owners/{userId}/limits (scopes, validation, audit, the OpenAPI
 * document), refusals that name the level, GET /api/v1/key showing every level, and bad patches
 * that change nothing (fast-check).
 */
import fc from 'fast-check';
import request from 'supertest';
import { createTestApp, chatBody, type TestApp } from '../helpers/app';
import { buildUser } from '../helpers/context';
import { SpecValidator } from '../helpers/openapi';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

describe('limits above the key', () => {
  let t: TestApp;
  let spec: SpecValidator;
  let admin: string;
  let writer: string;

  beforeAll(async () => {
    t = await createTestApp('sqlite');
    spec = new SpecValidator((await request(t.app).get('/api/openapi.json')).body);
    admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
    writer = (await t.issue({ scopes: ['keys:read', 'keys:write'], tier: 'enterprise' })).key;
  });
  afterAll(() => t.close());

  const api = () => request(t.app);

  it('GET /api/v1/tenant: no limits by default, alert thresholds 50/80/100', async () => {
    const res = await api().get('/api/v1/tenant').set('authorization', `Bearer ${writer}`);
    expect(res.status).toBe(200);
    spec.check(res, 'get', '/api/v1/tenant');
    expect(res.body).toEqual({
      id: t.tenant.id,
      name: t.tenant.name,
      slug: t.tenant.slug,
      budget: null,
      rateLimits: { perMinute: null, perHour: null, perDay: null, perMonth: null },
      tokenLimits: { perMinute: null, perDay: null },
      alertThresholds: [50, 80, 100],
    });
  });

  it('PATCH /api/v1/tenant needs admin; changes are audited and apply to the next request at once', async () => {
    const { key } = await t.issue({ tier: 'enterprise' });
    const before = await api().post('/api/v1/chat/completions').set('authorization', `Bearer ${key}`).send(chatBody());
    expect(before.status).toBe(200);

    const refused = await api().patch('/api/v1/tenant').set('authorization', `Bearer ${writer}`).send({ rateLimits: { perMinute: 1 } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('insufficient_scope');

    const res = await api()
      .patch('/api/v1/tenant')
      .set('authorization', `Bearer ${admin}`)
      .send({ budget: { limitCents: 500, period: 'monthly' }, rateLimits: { perMinute: 1 }, alertThresholds: [80, 100] });
    expect(res.status).toBe(200);
    spec.check(res, 'patch', '/api/v1/tenant');
    expect(res.body).toMatchObject({
      budget: { limitCents: 500, period: 'monthly', spentCents: 0, remainingCents: 500 },
      rateLimits: { perMinute: 1, perHour: null },
      alertThresholds: [80, 100],
    });

    const first = await api().post('/api/v1/chat/completions').set('authorization', `Bearer ${key}`).send(chatBody());
    expect(first.status).toBe(200);
    const second = await api().post('/api/v1/chat/completions').set('authorization', `Bearer ${key}`).send(chatBody());
    expect(second.status).toBe(429);
    expect(second.body.error).toMatchObject({ code: 'rate_limited', level: 'tenant' });
    expect(second.body.error.message).toMatch(/tenant: 1 requests per minute/);

    const info = await api().get('/api/v1/key').set('authorization', `Bearer ${key}`);
    expect(info.status).toBe(429); // the tenant's minute window counts every /api request
    const events = await api().get('/api/v1/audit-events?action=tenant.limits_update').set('authorization', `Bearer ${admin}`);
    expect(events.body.data[0]).toMatchObject({ action: 'tenant.limits_update', targetType: 'tenant', targetId: t.tenant.id });
    expect(Object.keys(events.body.data[0].changes).sort()).toEqual(['alertThresholds', 'budget', 'rateLimits']);

    // Cleared again for the other tests.
    const cleared = await api().patch('/api/v1/tenant').set('authorization', `Bearer ${admin}`).send({ budget: null, rateLimits: { perMinute: null }, alertThresholds: [50, 80, 100] });
    expect(cleared.body).toMatchObject({ budget: null, rateLimits: { perMinute: null } });
  });

  it('GET /api/v1/key shows every level with what is left', async () => {
    const owner = await buildUser(t.ctx, t.tenant);
    const { key } = await t.issue({ tier: 'enterprise', ownerId: owner.id, tokenLimits: { perMinute: 5000 }, usageLimit: 10, usageLimitPeriod: 'daily', maxConcurrentRequests: 3 });
    await api().patch(`/api/v1/owners/${owner.id}/limits`).set('authorization', `Bearer ${admin}`).send({ budget: { limitCents: 100, period: 'total' }, tokenLimits: { perDay: 100000 } }).expect(200);
    const chat = await api().post('/api/v1/chat/completions').set('authorization', `Bearer ${key}`).send(chatBody());
    expect(chat.status).toBe(200);
    await t.ctx.usage.flush();
    const res = await api().get('/api/v1/key').set('authorization', `Bearer ${key}`);
    expect(res.status).toBe(200);
    spec.check(res, 'get', '/api/v1/key');
    expect(res.body.quota).toMatchObject({ used: 2, limit: 10, period: 'daily' });
    expect(res.body.quota.resetsAt).toMatch(/T00:00:00\.000Z$/);
    expect(res.body.concurrency).toEqual({ limit: 3, inFlight: 1 });
    expect(res.body.tokenLimits).toEqual([expect.objectContaining({ window: 'minute', limit: 5000 })]);
    expect(res.body.tokenLimits[0].remaining).toBe(5000 - chat.body.usage.total_tokens);
    expect(res.body.levels).toEqual([
      expect.objectContaining({
        level: 'owner',
        rateLimits: [],
        tokenLimits: [expect.objectContaining({ window: 'day', limit: 100000, remaining: 100000 - chat.body.usage.total_tokens })],
        budget: expect.objectContaining({ limitCents: 100, period: 'total' }),
      }),
    ]);
    expect(res.body.levels[0].budget.spentCents).toBeGreaterThan(0);
  });

  it('owner limits: GET/PATCH for members, 404 for anyone else, audited with the email', async () => {
    const member = await buildUser(t.ctx, t.tenant);
    const outsider = await buildUser(t.ctx, null);
    const get = await api().get(`/api/v1/owners/${member.id}/limits`).set('authorization', `Bearer ${writer}`);
    expect(get.status).toBe(200);
    spec.check(get, 'get', '/api/v1/owners/{userId}/limits');
    expect(get.body).toMatchObject({ userId: member.id, email: member.email, budget: null });
    const patch = await api().patch(`/api/v1/owners/${member.id}/limits`).set('authorization', `Bearer ${admin}`).send({ rateLimits: { perDay: 1000 }, tokenLimits: { perMinute: 20000 } });
    expect(patch.status).toBe(200);
    spec.check(patch, 'patch', '/api/v1/owners/{userId}/limits');
    expect(patch.body).toMatchObject({ rateLimits: { perDay: 1000 }, tokenLimits: { perMinute: 20000, perDay: null } });
    for (const id of [outsider.id, 'nobody']) {
      const res = await api().get(`/api/v1/owners/${id}/limits`).set('authorization', `Bearer ${writer}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const events = await api().get('/api/v1/audit-events?action=owner.limits_update').set('authorization', `Bearer ${admin}`);
    expect(events.body.data[0]).toMatchObject({ targetType: 'user', targetId: member.id, targetLabel: member.email });
  });

  it('a bad patch is a 400 naming every bad field and changes nothing', async () => {
    const res = await api()
      .patch('/api/v1/tenant')
      .set('authorization', `Bearer ${admin}`)
      .send({ budget: { limitCents: -1, period: 'weekly' }, rateLimits: { perMinute: 0 }, tokenLimits: { perDay: 1.5 }, alertThresholds: [0, 80, 80], colour: 'red' });
    expect(res.status).toBe(400);
    spec.check(res, 'patch', '/api/v1/tenant');
    const fields = res.body.error.details.map((d: { field: string }) => d.field).sort();
    expect(fields).toEqual(['alertThresholds', 'alertThresholds.0', 'budget.limitCents', 'budget.period', 'colour', 'rateLimits.perMinute', 'tokenLimits.perDay']);
    const after = await api().get('/api/v1/tenant').set('authorization', `Bearer ${admin}`);
    expect(after.body.budget).toBeNull();
  });

  it('fuzzed patches: never 5xx, and a refused one writes nothing', async () => {
    const auditCount = () => t.ctx.database.prisma.auditEvent.count();
    const member = await buildUser(t.ctx, t.tenant);
    const value = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.boolean(), fc.array(fc.integer({ min: -5, max: 200 }), { maxLength: 12 }));
    const body = fc.oneof(
      fc.dictionary(fc.constantFrom('budget', 'rateLimits', 'tokenLimits', 'alertThresholds', '__proto__', 'x'), fc.oneof(value, fc.dictionary(fc.constantFrom('limitCents', 'period', 'perMinute', 'perHour', 'perDay', 'perMonth', 'y'), value))),
      value,
    );
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('/api/v1/tenant', 'owner'), async (payload, target) => {
        const path = target === 'owner' ? `/api/v1/owners/${member.id}/limits` : '/api/v1/tenant';
        const before = await auditCount();
        const res = await api().patch(path).set('authorization', `Bearer ${admin}`).set('content-type', 'application/json').send(JSON.stringify(payload) ?? 'null');
        expect(res.status).toBeLessThan(500);
        if (res.status !== 200) expect(await auditCount()).toBe(before);
      }),
      { numRuns: RUNS },
    );
  });
});
