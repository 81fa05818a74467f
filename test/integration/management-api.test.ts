/**
 * The management API (/api/v1/keys, /stats, /audit-events, /api/openapi.json): every route and
 * error code, tenant isolation on every route, escalation attempts, and every response checked
 * against the served OpenAPI 3.1 document.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import request from 'supertest';
import { testActor } from '../helpers/context';
import { buildTenant, buildUser } from '../helpers/context';
import { createTestApp, type TestApp } from '../helpers/app';
import { SpecValidator } from '../helpers/openapi';

let t: TestApp;
let spec: SpecValidator;
let admin: string;

beforeAll(async () => {
  t = await createTestApp('sqlite');
  const doc = (await request(t.app).get('/api/openapi.json')).body;
  spec = new SpecValidator(doc);
  admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
});
afterAll(async () => t.close());

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

/** Calls a route with a key and checks the answer against the document. */
async function call(method: Method, path: string, template: string, key: string, body?: unknown) {
  let req = request(t.app)[method](path).set('Authorization', `Bearer ${key}`);
  if (body !== undefined) req = req.send(body as object);
  const res = await req;
  spec.check(res, method, template);
  return res;
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document served without a key, covering every /api route', async () => {
    const res = await request(t.app).get('/api/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(res.body))).resolves.toBeDefined();
    expect(Object.keys(res.body.paths).sort()).toEqual(
      [
        '/api/openapi.json',
        '/api/v1/models',
        '/api/v1/models/{model}',
        '/api/v1/chat/completions',
        '/api/v1/responses',
        '/api/v1/key',
        '/api/v1/keys',
        '/api/v1/keys/{id}',
        '/api/v1/keys/{id}/regenerate',
        '/api/v1/keys/{id}/rotate',
        '/api/v1/keys/{id}/revoke',
        '/api/v1/keys/{id}/activate',
        '/api/v1/keys/{id}/deactivate',
        '/api/v1/keys/{id}/reset-usage',
        '/api/v1/keys/{id}/usage',
        '/api/v1/keys/{id}/requests',
        '/api/v1/keys/{id}/ips',
        '/api/v1/usage',
        '/api/v1/stats',
        '/api/v1/audit-events',
        '/api/v1/tenant',
        '/api/v1/owners/{userId}/limits',
        '/api/v1/keys/verify',
        '/api/v1/keys/verify/{reservationId}/settle',
        '/api/v1/keys/changes',
        '/api/v1/webhooks',
        '/api/v1/webhooks/{id}',
        '/api/v1/webhooks/{id}/deliveries',
        '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver',
        '/api/v1/webhooks/{id}/test',
        '/api/v1/alerts',
      ].sort(),
    );
  });

  it('describes the OpenAI-compatible routes that real responses match', async () => {
    const { key } = await t.issue();
    await call('get', '/api/v1/models', '/api/v1/models', key);
    await call('post', '/api/v1/chat/completions', '/api/v1/chat/completions', key, { model: 'local-small', messages: [{ role: 'user', content: 'hi' }] });
    await call('get', '/api/v1/key', '/api/v1/key', key);
    await call('post', '/api/v1/chat/completions', '/api/v1/chat/completions', key, { model: 'nope', messages: [{ role: 'user', content: 'hi' }] });
    await call('get', '/api/v1/models/local-small', '/api/v1/models/{model}', key);
    await call('get', '/api/v1/models/nope', '/api/v1/models/{model}', key);
    await call('post', '/api/v1/responses', '/api/v1/responses', key, { model: 'local-small', input: 'hi', instructions: 'be kind' });
    await call('post', '/api/v1/responses', '/api/v1/responses', key, { model: 'local-small', input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], max_output_tokens: 2 });
    await call('post', '/api/v1/responses', '/api/v1/responses', key, { model: 'local-small', input: 42 });
  });
});

describe('keys', () => {
  it('POST /keys creates a key (201) owned by the calling key\'s owner, with the secret once', async () => {
    const owner = await buildUser(t.ctx, t.tenant, { role: 'admin' });
    const caller = await t.issue({ scopes: ['keys:write', 'api'], ownerId: owner.id });
    const res = await call('post', '/api/v1/keys', '/api/v1/keys', caller.key, {
      name: 'ci deploy',
      tags: ['ci'],
      budget: { limitCents: 500, period: 'monthly' },
      allowedIps: ['10.0.0.0/8'],
      expiresInDays: 30,
    });
    expect(res.status).toBe(201);
    expect(res.body.key).toMatch(new RegExp(`^kw_${res.body.apiKey.id}_`));
    // Never cacheable, and no validator derived from a body that holds the secret.
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.etag).toBeUndefined();
    expect(res.body.apiKey).toMatchObject({
      name: 'ci deploy',
      status: 'active',
      scopes: ['api'],
      ownerId: owner.id,
      tenantId: t.tenant.id,
      prefix: `kw_${res.body.apiKey.id}…`,
      rateLimits: { perMinute: 10, perHour: 100, perDay: 1000, perMonth: 10000 },
      budget: { limitCents: 500, period: 'monthly' },
      totalRequests: 0,
    });
    expect(JSON.stringify(res.body.apiKey)).not.toMatch(/secretHash|hashVersion|ledger/);
    const events = await call('get', `/api/v1/audit-events?keyId=${res.body.apiKey.id}`, '/api/v1/audit-events', admin);
    expect(events.body.data[0]).toMatchObject({ action: 'key.create', actor: { type: 'api_key', id: caller.apiKey.id, label: caller.apiKey.name } });
    // The names of the target and its owner, as they were: they survive the key and the person.
    expect(events.body.data[0]).toMatchObject({ targetLabel: 'ci deploy', labels: { [owner.id]: owner.email } });
    expect(events.body.data[0].ip).toBeTruthy();
  });

  it('GET /keys pages, filters and sorts newest first; GET /keys/:id reads one', async () => {
    const tenantApp = await createTestApp('sqlite');
    try {
      const reader = await tenantApp.issue({ scopes: ['keys:read'], name: 'reader' });
      for (const name of ['alpha', 'beta', 'gamma']) await tenantApp.issue({ name, tags: name === 'beta' ? ['x'] : [] });
      const list = (query: string) => request(tenantApp.app).get(`/api/v1/keys${query}`).set('Authorization', `Bearer ${reader.key}`);
      const page = await list('?page=1&size=2');
      spec.check(page, 'get', '/api/v1/keys');
      expect(page.body).toMatchObject({ total: 4, page: 1, size: 2 });
      expect(page.body.data.map((k: { name: string }) => k.name)).toEqual(['gamma', 'beta']);
      expect((await list('?tag=x')).body.data.map((k: { name: string }) => k.name)).toEqual(['beta']);
      expect((await list('?search=AMM')).body.data.map((k: { name: string }) => k.name)).toEqual(['gamma']);
      expect((await list('?status=revoked')).body.total).toBe(0);
      const bad = await list('?size=101&status=gone');
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['size', 'status']);
      const one = await request(tenantApp.app).get(`/api/v1/keys/${reader.apiKey.id}`).set('Authorization', `Bearer ${reader.key}`);
      spec.check(one, 'get', '/api/v1/keys/{id}');
      expect(one.body.name).toBe('reader');
    } finally {
      await tenantApp.close();
    }
  });

  it('PATCH and PUT change settings partially; null clears', async () => {
    const { apiKey } = await t.issue({ usageLimit: 10, description: 'keep me' });
    const patched = await call('patch', `/api/v1/keys/${apiKey.id}`, '/api/v1/keys/{id}', admin, { usageLimit: null, tags: ['a'], rateLimits: { perMinute: 5 } });
    expect(patched.body).toMatchObject({ usageLimit: null, tags: ['a'], description: 'keep me', rateLimits: { perMinute: 5, perHour: 100 } });
    const put = await call('put', `/api/v1/keys/${apiKey.id}`, '/api/v1/keys/{id}', admin, { name: 'renamed' });
    expect(put.body).toMatchObject({ name: 'renamed', tags: ['a'] });
  });

  it('lifecycle actions: deactivate, activate, revoke (then 409 on activate), reset-usage, delete (204)', async () => {
    const { apiKey } = await t.issue();
    const path = (action: string) => `/api/v1/keys/${apiKey.id}/${action}`;
    expect((await call('post', path('deactivate'), '/api/v1/keys/{id}/deactivate', admin)).body.status).toBe('inactive');
    expect((await call('post', path('activate'), '/api/v1/keys/{id}/activate', admin)).body.status).toBe('active');
    expect((await call('post', path('reset-usage'), '/api/v1/keys/{id}/reset-usage', admin)).body.totalRequests).toBe(0);
    const revoked = await call('post', path('revoke'), '/api/v1/keys/{id}/revoke', admin);
    expect(revoked.body).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });
    const conflict = await call('post', path('activate'), '/api/v1/keys/{id}/activate', admin);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('invalid_state');
    const deleted = await call('delete', `/api/v1/keys/${apiKey.id}`, '/api/v1/keys/{id}', admin);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await call('get', `/api/v1/keys/${apiKey.id}`, '/api/v1/keys/{id}', admin)).status).toBe(404);
  });

  it('regenerate and rotate return a new secret; rotate keeps the old one for the grace period', async () => {
    const { key: original, apiKey } = await t.issue();
    const rotated = await call('post', `/api/v1/keys/${apiKey.id}/rotate`, '/api/v1/keys/{id}/rotate', admin, { gracePeriodSeconds: 3600 });
    expect(rotated.body.apiKey.id).toBe(apiKey.id);
    const models = (key: string) => request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${key}`);
    expect((await models(original)).status).toBe(200);
    expect((await models(rotated.body.key)).status).toBe(200);
    const regenerated = await call('post', `/api/v1/keys/${apiKey.id}/regenerate`, '/api/v1/keys/{id}/regenerate', admin);
    expect((await models(rotated.body.key)).body.error.code).toBe('invalid_api_key');
    expect((await models(original)).body.error.code).toBe('invalid_api_key');
    expect((await models(regenerated.body.key)).status).toBe(200);
    const bad = await call('post', `/api/v1/keys/${apiKey.id}/rotate`, '/api/v1/keys/{id}/rotate', admin, { gracePeriodSeconds: 604_801 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([{ field: 'gracePeriodSeconds', message: 'must be at most 604,800' }]);
  });

  it('GET /keys/:id/usage reports totals, today, this hour, 30 days and the budget', async () => {
    const { key, apiKey } = await t.issue({ budget: { limitCents: 100, period: 'monthly' } });
    for (let i = 0; i < 3; i++) {
      await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send({ model: 'local-small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    }
    // A malformed body is refused before anything is counted: it is not part of the key's usage.
    const bad = await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send({ model: 'local-small', messages: [] });
    expect(bad.status).toBe(400);
    await t.ctx.usage.flush();
    const res = await call('get', `/api/v1/keys/${apiKey.id}/usage`, '/api/v1/keys/{id}/usage', admin);
    expect(res.body).toMatchObject({ totalRequests: 3, successfulRequests: 3, failedRequests: 0, today: { requests: 3 }, thisHour: { requests: 3 } });
    expect(res.body.daily).toHaveLength(30);
    expect(res.body.daily[29]).toMatchObject({ date: new Date().toISOString().slice(0, 10), requests: 3 });
    expect(res.body.totalCostCents).toBeGreaterThan(0);
    expect(res.body.budget).toMatchObject({ limitCents: 100, period: 'monthly' });
    expect(res.body.budget.spentCents).toBeCloseTo(res.body.totalCostCents, 6);
    expect(res.body.lastUsedAt).toEqual(expect.any(String));
  });

  it('GET /stats counts the tenant\'s keys by status', async () => {
    const statsApp = await createTestApp('sqlite');
    try {
      const caller = await statsApp.issue({ scopes: ['keys:read'] });
      const revoked = await statsApp.issue();
      await statsApp.ctx.keys.revoke(statsApp.tenant.id, revoked.apiKey.id, testActor);
      const inactive = await statsApp.issue();
      await statsApp.ctx.keys.deactivate(statsApp.tenant.id, inactive.apiKey.id, testActor);
      const res = await request(statsApp.app).get('/api/v1/stats').set('Authorization', `Bearer ${caller.key}`);
      spec.check(res, 'get', '/api/v1/stats');
      expect(res.body).toEqual({ totalKeys: 3, activeKeys: 1, inactiveKeys: 1, revokedKeys: 1, expiredKeys: 0 });
    } finally {
      await statsApp.close();
    }
  });
});

describe('errors', () => {
  it('400 validation_error lists every bad field and writes nothing', async () => {
    const before = await t.ctx.database.prisma.apiKey.count();
    const res = await call('post', '/api/v1/keys', '/api/v1/keys', admin, { name: '', tier: 'gold', allowedIps: ['x'], usageLimit: 0, extra: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['allowedIps.0', 'extra', 'name', 'tier', 'usageLimit']);
    expect(res.body.error.message).toMatch(/name/);
    expect(await t.ctx.database.prisma.apiKey.count()).toBe(before);
  });

  it('400 invalid_json for malformed JSON, 413 for bodies over 2 MB', async () => {
    const malformed = await request(t.app).post('/api/v1/keys').set('Authorization', `Bearer ${admin}`).set('Content-Type', 'application/json').send('{"name": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_json');
    const large = await request(t.app)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${admin}`)
      .send({ name: 'big', description: 'x'.repeat(3 * 1024 * 1024) });
    expect(large.status).toBe(413);
    expect(large.body.error.code).toBe('payload_too_large');
  });

  it('403 insufficient_scope for routes the key\'s scopes do not cover', async () => {
    const reader = await t.issue({ scopes: ['keys:read'] });
    const apiOnly = await t.issue({ scopes: ['api'] });
    const refused = await call('post', '/api/v1/keys', '/api/v1/keys', reader.key, { name: 'x' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('insufficient_scope');
    expect((await call('get', '/api/v1/keys', '/api/v1/keys', apiOnly.key)).body.error.code).toBe('insufficient_scope');
    expect((await call('get', '/api/v1/stats', '/api/v1/stats', apiOnly.key)).body.error.code).toBe('insufficient_scope');
    expect((await call('get', '/api/v1/keys', '/api/v1/keys', reader.key)).status).toBe(200);
  });

  it('403 insufficient_scope when a key tries to grant scopes it does not hold (no escalation)', async () => {
    const writer = await t.issue({ scopes: ['keys:write'] });
    const attempts: [string, Record<string, unknown>][] = [
      ['default scopes include api', { name: 'x' }],
      ['keys:read', { name: 'x', scopes: ['keys:read'] }],
      ['admin', { name: 'x', scopes: ['admin'] }],
    ];
    for (const [, body] of attempts) {
      const res = await call('post', '/api/v1/keys', '/api/v1/keys', writer.key, body);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('insufficient_scope');
    }
    const allowed = await call('post', '/api/v1/keys', '/api/v1/keys', writer.key, { name: 'ok', scopes: ['keys:write'] });
    expect(allowed.status).toBe(201);
    const up = await call('patch', `/api/v1/keys/${allowed.body.apiKey.id}`, '/api/v1/keys/{id}', writer.key, { scopes: ['admin'] });
    expect(up.status).toBe(403);
    expect((await t.ctx.keys.get(t.tenant.id, allowed.body.apiKey.id)).scopes).toEqual(['keys:write']);
    expect((await call('post', '/api/v1/keys', '/api/v1/keys', admin, { name: 'super', scopes: ['admin'] })).status).toBe(201);
  });

  it('401 without a valid key on every management route', async () => {
    expect((await request(t.app).get('/api/v1/keys')).body.error.code).toBe('missing_api_key');
    expect((await request(t.app).get('/api/v1/stats').set('X-API-Key', 'kw_nope')).body.error.code).toBe('invalid_api_key');
  });
});

describe('tenant isolation (IDOR sweep)', () => {
  it('answers 404 on every route for another tenant\'s key, and never lists or changes it', async () => {
    const other = await buildTenant(t.ctx);
    const foreign = await t.ctx.keys.create(other.id, { name: 'foreign', tags: ['secret-tag'] }, testActor);
    const id = foreign.apiKey.id;
    const routes: [Method, string, string, unknown?][] = [
      ['get', `/api/v1/keys/${id}`, '/api/v1/keys/{id}'],
      ['patch', `/api/v1/keys/${id}`, '/api/v1/keys/{id}', { name: 'stolen' }],
      ['put', `/api/v1/keys/${id}`, '/api/v1/keys/{id}', { name: 'stolen' }],
      ['post', `/api/v1/keys/${id}/regenerate`, '/api/v1/keys/{id}/regenerate'],
      ['post', `/api/v1/keys/${id}/rotate`, '/api/v1/keys/{id}/rotate', { gracePeriodSeconds: 0 }],
      ['post', `/api/v1/keys/${id}/revoke`, '/api/v1/keys/{id}/revoke'],
      ['post', `/api/v1/keys/${id}/activate`, '/api/v1/keys/{id}/activate'],
      ['post', `/api/v1/keys/${id}/deactivate`, '/api/v1/keys/{id}/deactivate'],
      ['post', `/api/v1/keys/${id}/reset-usage`, '/api/v1/keys/{id}/reset-usage'],
      ['get', `/api/v1/keys/${id}/usage`, '/api/v1/keys/{id}/usage'],
      ['delete', `/api/v1/keys/${id}`, '/api/v1/keys/{id}'],
    ];
    const missing = await call('get', '/api/v1/keys/AAAAAAAAAAAA', '/api/v1/keys/{id}', admin);
    for (const [method, path, template, body] of routes) {
      const res = await call(method, path, template, admin, body);
      expect({ route: `${method} ${path}`, status: res.status, body: res.body }).toEqual({ route: `${method} ${path}`, status: 404, body: missing.body });
    }
    const untouched = await t.ctx.keys.get(other.id, id);
    expect(untouched).toMatchObject({ name: 'foreign', status: 'active', secretHash: foreign.apiKey.secretHash });
    const listed = await call('get', '/api/v1/keys?size=100&tag=secret-tag', '/api/v1/keys', admin);
    expect(listed.body.total).toBe(0);
    const searched = await call('get', '/api/v1/keys?size=100&search=foreign', '/api/v1/keys', admin);
    expect(searched.body.total).toBe(0);
    const audit = await call('get', `/api/v1/audit-events?keyId=${id}`, '/api/v1/audit-events', admin);
    expect(audit.body.total).toBe(0);
  });
});
