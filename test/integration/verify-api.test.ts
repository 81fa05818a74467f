/**
 * POST /api/v1/keys/verify: a service's described request goes through the /api guard's checks
 * on the same counters and is recorded like an /api request of the key; reservations are settled
 * once (or charged in full at expiry); only keys of the caller's tenant are found.
 */
import express from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { cachedKeyStore, createMemoryLimits, generateKey, KeyHasher } from '../../src';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';
import { createKeyGuard } from '../../packages/guard/src/middleware/api-key-auth';
import type { UsageEvent } from '../../packages/guard/src/usage/usage-types';
import { KeyVerification } from '../../src/verify/key-verification';
import { chatBody, createTestApp, type TestApp } from '../helpers/app';
import { buildTenant, testActor } from '../helpers/context';
import { buildKeyRecord } from '../helpers/key-record';
import { SpecValidator } from '../helpers/openapi';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

describe('POST /api/v1/keys/verify', () => {
  let t: TestApp;
  let spec: SpecValidator;
  let verifier: string;

  beforeAll(async () => {
    t = await createTestApp('sqlite');
    spec = new SpecValidator((await request(t.app).get('/api/openapi.json')).body);
    verifier = (await t.issue({ name: 'gateway', scopes: ['keys:verify'], tier: 'enterprise' })).key;
  });
  afterAll(() => t.close());

  const verify = (body: unknown, caller = verifier) =>
    request(t.app).post('/api/v1/keys/verify').set('authorization', `Bearer ${caller}`).set('user-agent', 'gateway/1.0').send(body as object);

  it('answers with the codes /api gives, for a scripted set of keys, and records each call as a request of the key', async () => {
    const ok = await t.issue({ name: 'fine', tier: 'enterprise', metadata: { plan: 'team' } });
    const revoked = await t.issue({ name: 'gone' });
    await t.ctx.keys.revoke(t.tenant.id, revoked.apiKey.id, testActor);
    const walled = await t.issue({ name: 'office only', allowedIps: ['203.0.113.0/24'] });
    const small = await t.issue({ name: 'small models', allowedModels: ['local-small'] });
    const limited = await t.issue({ name: 'one a minute', rateLimits: { perMinute: 1 } });
    const broke = await t.issue({ name: 'broke', budget: { limitCents: 1, period: 'total' } });
    const cases: [string, Record<string, unknown>, string, boolean][] = [
      ['ok', { key: ok.key, ip: '198.51.100.4', model: 'local-small' }, 'ok', true],
      ['revoked', { key: revoked.key }, 'key_revoked', false],
      ['wrong IP', { key: walled.key, ip: '198.51.100.4' }, 'ip_not_allowed', false],
      ['wrong model', { key: small.key, model: 'local-large' }, 'model_not_allowed', false],
      ['rate-limited (first)', { key: limited.key }, 'ok', true],
      ['rate-limited', { key: limited.key }, 'rate_limited', false],
      ['over budget', { key: broke.key, cost: { microCents: 2_000_000 } }, 'budget_exceeded', false],
      ['wrong secret', { key: `${ok.key.slice(0, -12)}AAAAAAAAAAAA` }, 'invalid_api_key', false],
    ];
    for (const [name, body, code, valid] of cases) {
      const res = await verify(body);
      expect({ name, status: res.status, code: res.body.code, valid: res.body.valid }).toEqual({ name, status: 200, code, valid });
      spec.check(res, 'post', '/api/v1/keys/verify');
    }
    const first = await verify({ key: ok.key, model: 'local-small' });
    expect(first.body.key).toEqual({
      id: ok.apiKey.id,
      name: 'fine',
      tenantId: t.tenant.id,
      ownerId: null,
      scopes: ['api'],
      metadata: { plan: 'team' },
      expiresAt: null,
    });
    expect(first.body.rateLimits.find((w: { window: string }) => w.window === 'minute')).toMatchObject({ limit: 1000 });
    // The same key through /api: the same code.
    expect((await request(t.app).post('/api/v1/chat/completions').set('authorization', `Bearer ${small.key}`).send(chatBody({ model: 'local-large' }))).body.error.code).toBe('model_not_allowed');
    expect((await request(t.app).get('/api/v1/models').set('authorization', `Bearer ${limited.key}`)).body.error.code).toBe('rate_limited');

    await t.ctx.usage.flush();
    const usage = async (id: string) =>
      (await request(t.app).get(`/api/v1/keys/${id}/usage`).set('authorization', `Bearer ${(await t.issue({ scopes: ['keys:read'] })).key}`)).body.outcomes;
    expect(await usage(ok.apiKey.id)).toMatchObject({ ok: 2 });
    expect(await usage(revoked.apiKey.id)).toMatchObject({ key_revoked: 1 });
    expect(await usage(walled.apiKey.id)).toMatchObject({ ip_not_allowed: 1 });
    expect(await usage(limited.apiKey.id)).toMatchObject({ ok: 1, rate_limited: 2 });
    expect(await usage(broke.apiKey.id)).toMatchObject({ budget_exceeded: 1 });
    const log = await t.ctx.database.prisma.requestLog.findFirst({ where: { keyId: ok.apiKey.id }, orderBy: { at: 'asc' } });
    expect(log).toMatchObject({ ip: '198.51.100.4', model: 'local-small', userAgent: 'gateway/1.0', outcome: 'ok' });
  });

  it('finds only keys of the caller\'s tenant: another tenant\'s key reads as invalid, and nothing is recorded for it', async () => {
    const other = await buildTenant(t.ctx);
    const foreign = await t.ctx.keys.create(other.id, { name: 'foreign', usageLimit: 5 }, testActor);
    const res = await verify({ key: foreign.key });
    expect(res.body).toMatchObject({ valid: false, code: 'invalid_api_key', key: null, rateLimits: [], quota: null });
    await t.ctx.usage.flush();
    expect(await t.ctx.database.prisma.requestLog.count({ where: { keyId: foreign.apiKey.id } })).toBe(0);
  });

  it('consume: false checks without counting; a described request counts against the quota like /api', async () => {
    const { key, apiKey } = await t.issue({ usageLimit: 2 });
    for (let i = 0; i < 3; i++) expect((await verify({ key, consume: false })).body).toMatchObject({ valid: true, quota: { used: 0 } });
    expect((await verify({ key })).body).toMatchObject({ valid: true, quota: { used: 1 } });
    expect((await request(t.app).get('/api/v1/models').set('authorization', `Bearer ${key}`)).status).toBe(200);
    expect((await verify({ key })).body).toMatchObject({ valid: false, code: 'quota_exceeded', level: 'key' });
    expect((await verify({ key, consume: false })).body.code).toBe('quota_exceeded');
    await t.ctx.usage.flush();
    expect(await t.ctx.database.prisma.requestLog.count({ where: { keyId: apiKey.id } })).toBe(3);
  });

  it('reserves cost and tokens until settled, settles once, and refuses other tenants\' and forged reservations', async () => {
    const { key, apiKey } = await t.issue({ budget: { limitCents: 10, period: 'total' }, tokenLimits: { perMinute: 1000 }, tier: 'enterprise' });
    const res = await verify({ key, cost: { microCents: 6_000_000 }, tokens: 600 });
    expect(res.body).toMatchObject({ valid: true, budget: { spentCents: 0, remainingCents: 4 } });
    expect(res.body.reservationId).toEqual(expect.any(String));
    // While held, a second request that would not fit is refused.
    expect((await verify({ key, cost: { microCents: 5_000_000 } })).body).toMatchObject({ valid: false, code: 'budget_exceeded', level: 'key' });
    expect((await verify({ key, tokens: 500 })).body).toMatchObject({ valid: false, code: 'rate_limited' });

    const other = await buildTenant(t.ctx);
    const outsider = (await t.ctx.keys.create(other.id, { name: 'outsider', scopes: ['keys:verify'] }, testActor)).key;
    const settlePath = `/api/v1/keys/verify/${res.body.reservationId}/settle`;
    expect((await request(t.app).post(settlePath).set('authorization', `Bearer ${outsider}`).send({ costMicroCents: 1 })).status).toBe(404);
    const forged = `${res.body.reservationId.slice(0, -3)}abc`;
    expect((await request(t.app).post(`/api/v1/keys/verify/${forged}/settle`).set('authorization', `Bearer ${verifier}`).send({ costMicroCents: 1 })).status).toBe(404);
    const bad = await request(t.app).post(settlePath).set('authorization', `Bearer ${verifier}`).send({ costMicroCents: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('costMicroCents');

    const settled = await request(t.app).post(settlePath).set('authorization', `Bearer ${verifier}`).send({ costMicroCents: 2_500_000, tokens: 200 });
    expect(settled.status).toBe(200);
    spec.check(settled, 'post', '/api/v1/keys/verify/{reservationId}/settle');
    const again = await request(t.app).post(settlePath).set('authorization', `Bearer ${verifier}`).send({ costMicroCents: 2_500_000 });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('invalid_state');
    const status = (await verify({ key, consume: false })).body;
    expect(status.budget).toMatchObject({ spentCents: 2.5, remainingCents: 7.5 });
    await t.ctx.usage.flush();
    const row = await t.ctx.database.prisma.requestLog.findFirst({ where: { keyId: apiKey.id, outcome: 'ok' } });
    expect(row).toMatchObject({ tokens: 200n });
  });

  it('needs scope keys:verify, counts the caller in its own window, and refuses bad bodies naming the field (nothing recorded)', async () => {
    const reader = (await t.issue({ scopes: ['keys:read', 'keys:write'] })).key;
    const refused = await verify({ key: 'kw_x' }, reader);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('insufficient_scope');
    const ok = await verify({ key: 'kw_whatever' });
    expect(ok.headers['ratelimit-policy']).toMatch(/"verify";q=60000;w=60/);
    const bad = await verify({ key: '', ip: '10.0.0.0/8', cost: { microCents: -5 }, extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['cost.microCents', 'extra', 'ip', 'key']);
  });

  it('fuzzed bodies: never 5xx, and a refused body writes nothing', async () => {
    const { key, apiKey } = await t.issue({ usageLimit: 1_000_000, tier: 'enterprise' });
    const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }));
    const body = fc.oneof(
      fc.record({ key: fc.oneof(fc.constant(key), value), ip: value, model: value, scopes: value, cost: fc.oneof(value, fc.record({ microCents: value })), tokens: value, consume: value }, { requiredKeys: [] }),
      value,
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        await t.ctx.usage.flush();
        const before = await t.ctx.database.prisma.requestLog.count({ where: { keyId: apiKey.id } });
        const res = await request(t.app).post('/api/v1/keys/verify').set('authorization', `Bearer ${verifier}`).set('content-type', 'application/json').send(JSON.stringify(payload) ?? 'null');
        expect(res.status).toBeLessThan(500);
        await t.ctx.usage.flush();
        if (res.status !== 200) expect(await t.ctx.database.prisma.requestLog.count({ where: { keyId: apiKey.id } })).toBe(before);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('an unsettled verification', () => {
  it('is charged in full when it expires, once, and a late settlement is refused', async () => {
    const hasher = new KeyHasher({ 1: 'verify-expiry-secret-0123456789abcdefghijklmn' });
    const key = generateKey('kw').key;
    const record: ApiKeyRecord = buildKeyRecord({ key, budget: { limitCents: 100, period: 'total' }, maxConcurrentRequests: 1 }, hasher);
    const limits = createMemoryLimits();
    const recorded: UsageEvent[] = [];
    const keys = cachedKeyStore({ findKey: async (id) => (id === record.id ? record : null) });
    const guard = createKeyGuard({ keys, hasher, limits, usage: { record: (e) => recorded.push(e) } });
    const verification = new KeyVerification({ guard, limits, keys, secret: 'token-secret-0123456789abcdefghijklmnopqrstuv', ttlMs: 1_000 });
    const app = express();
    app.use(express.json());
    app.post('/verify', async (req, res) => res.json(await verification.verify(req, 'acme', req.body)));
    app.post('/settle/:id', async (req, res) => {
      try {
        res.json(await verification.settle(req, 'acme', req.params.id, req.body));
      } catch (error) {
        res.status((error as { status?: number }).status ?? 500).json({ code: (error as { code?: string }).code });
      }
    });
    const first = await request(app).post('/verify').send({ key, cost: { microCents: 3_000_000 } });
    expect(first.body).toMatchObject({ valid: true });
    // Its concurrency slot is held until it ends: a second here, so that a loaded machine's delay
    // between two requests (this test once gave 100 ms) cannot free the slot before the check.
    expect((await request(app).post('/verify').send({ key })).body).toMatchObject({ valid: false, code: 'rate_limited' });
    // Charged when its timer fires, not at a fixed delay of the test.
    for (let i = 0; i < 1_000 && recorded.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ outcome: 'client_closed', costMicroCents: 3_000_000 });
    expect(await limits.ledger.usage(record.id, 'budget', 0, { used: 0, ceiling: 0, periodStart: -1 })).toEqual({ used: 3_000_000, reserved: 0 });
    expect((await request(app).post(`/settle/${first.body.reservationId}`).send({ costMicroCents: 1 })).status).toBe(409);
    expect((await request(app).post('/verify').send({ key })).body).toMatchObject({ valid: true });
    await verification.close();
  });
});
