/**
 * The /api contract of the guard: one test per refusal, in the pinned order, plus the headers.
 * Runs against the app's own /api/v1 routes (scope `api`).
 */
import request from 'supertest';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { testActor } from '../helpers/context';
import { chatBody, createTestApp, type TestApp } from '../helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp('sqlite', { config: { api: { usageFlushIntervalMs: 1000, keyCacheTtlMs: 30_000, invalidKeys: { attempts: 1000, windowSeconds: 60, blockSeconds: 120 } } } });
});
afterAll(async () => t.close());

const get = (key?: string, path = '/api/v1/models') => {
  const req = request(t.app).get(path);
  return key ? req.set('Authorization', `Bearer ${key}`) : req;
};
const chat = (key: string, body: object = chatBody()) => request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send(body);

function expectError(res: request.Response, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(10);
  expect(typeof res.body.error.type).toBe('string');
}

describe('where the key comes from', () => {
  it('401 missing_api_key without a key', async () => {
    expectError(await get(), 401, 'missing_api_key');
  });

  it('accepts Authorization: Bearer and X-API-Key', async () => {
    const { key } = await t.issue();
    expect((await get(key)).status).toBe(200);
    expect((await request(t.app).get('/api/v1/models').set('X-API-Key', key)).status).toBe(200);
  });

  it('never reads a key from the query string or a cookie', async () => {
    const { key } = await t.issue();
    expectError(await request(t.app).get(`/api/v1/models?api_key=${key}&key=${key}`), 401, 'missing_api_key');
    expectError(await request(t.app).get('/api/v1/models').set('Cookie', `api_key=${key}`), 401, 'missing_api_key');
  });
});

describe('refusals, one per row of the contract', () => {
  it.each([
    ['malformed', () => 'not-a-key'],
    ['bad checksum', (key: string) => `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`],
    ['unknown id', () => generateKey('kw').key],
  ])('401 invalid_api_key: %s', async (_label, mutate) => {
    const { key } = await t.issue();
    const res = await get(mutate(key));
    expectError(res, 401, 'invalid_api_key');
    expect(JSON.stringify(res.body)).not.toContain(key.slice(16, 40));
  });

  it('401 invalid_api_key: wrong secret for a real id', async () => {
    const { apiKey } = await t.issue();
    expectError(await get(generateKey('kw', apiKey.id).key), 401, 'invalid_api_key');
  });

  it('401 key_revoked', async () => {
    const { key, apiKey } = await t.issue();
    await t.ctx.keys.revoke(t.tenant.id, apiKey.id, testActor);
    expectError(await get(key), 401, 'key_revoked');
  });

  it('401 key_inactive', async () => {
    const { key, apiKey } = await t.issue();
    await t.ctx.keys.deactivate(t.tenant.id, apiKey.id, testActor);
    expectError(await get(key), 401, 'key_inactive');
  });

  it('401 key_expired, and for an old secret past its rotation grace', async () => {
    const { key, apiKey } = await t.issue({ expiresAt: new Date(Date.now() + 1500).toISOString() });
    expect((await get(key)).status).toBe(200);
    const rotated = await t.issue();
    await t.ctx.keys.rotate(t.tenant.id, rotated.apiKey.id, { gracePeriodSeconds: 1 }, testActor);
    expect((await get(rotated.key)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expectError(await get(key), 401, 'key_expired');
    expectError(await get(rotated.key), 401, 'key_expired');
    expect(apiKey.id).toBeDefined();
  });

  it('403 ip_not_allowed', async () => {
    const { key } = await t.issue({ allowedIps: ['10.0.0.0/8'] });
    expectError(await get(key), 403, 'ip_not_allowed');
    const local = await t.issue({ allowedIps: ['127.0.0.1', '::1'] });
    expect((await get(local.key)).status).toBe(200);
  });

  it('403 insufficient_scope', async () => {
    const { key } = await t.issue({ scopes: ['keys:read'] });
    expectError(await get(key), 403, 'insufficient_scope');
    const admin = await t.issue({ scopes: ['admin'] });
    expect((await get(admin.key)).status).toBe(200);
  });

  it('403 model_not_allowed', async () => {
    const { key } = await t.issue({ allowedModels: ['local-large'] });
    expectError(await chat(key), 403, 'model_not_allowed');
    expect((await chat(key, chatBody({ model: 'local-large' }))).status).toBe(200);
  });

  it('403 chatbot_not_allowed when the key is limited to chatbots', async () => {
    const { key } = await t.issue({ allowedChatbots: ['support-bot'] });
    expectError(await get(key), 403, 'chatbot_not_allowed');
    expectError(await get(key).set('X-Chatbot-Id', 'sales-bot'), 403, 'chatbot_not_allowed');
    expect((await get(key).set('X-Chatbot-Id', 'support-bot')).status).toBe(200);
  });

  it('429 rate_limited with Retry-After no earlier than the window reset', async () => {
    const { key } = await t.issue({ rateLimits: { perMinute: 3 } });
    for (let i = 0; i < 3; i++) expect((await get(key)).status).toBe(200);
    const res = await get(key);
    expectError(res, 429, 'rate_limited');
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(55);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.headers.ratelimit).toMatch(/^"minute";r=0;t=\d+$/);
  });

  it('429 quota_exceeded once the usage limit is used up; reset usage clears it', async () => {
    const { key, apiKey } = await t.issue({ usageLimit: 2 });
    expect((await get(key)).status).toBe(200);
    expect((await get(key)).status).toBe(200);
    expectError(await get(key), 429, 'quota_exceeded');
    await t.ctx.keys.resetUsage(t.tenant.id, apiKey.id, testActor);
    expect((await get(key)).status).toBe(200);
  });

  it('402 budget_exceeded when the request could push spend over the budget', async () => {
    // local-small: 15 c/M input, 60 c/M output. A 200 KB prompt could be 200,000 tokens: 3 cents.
    const { key } = await t.issue({ budget: { limitCents: 2, period: 'total' } });
    const res = await chat(key, chatBody({ max_tokens: 4096, messages: [{ role: 'user', content: 'x'.repeat(200_000) }] }));
    expectError(res, 402, 'budget_exceeded');
    expect((await chat(key)).status).toBe(200);
  });
});

describe('the order of checks', () => {
  it('answers the first failing check: status before IP, IP before scope, scope before model, model before limits', async () => {
    const revokedAndForeign = await t.issue({ allowedIps: ['10.0.0.0/8'] });
    await t.ctx.keys.revoke(t.tenant.id, revokedAndForeign.apiKey.id, testActor);
    expectError(await get(revokedAndForeign.key), 401, 'key_revoked');

    const foreignWithoutScope = await t.issue({ allowedIps: ['10.0.0.0/8'], scopes: ['keys:read'] });
    expectError(await get(foreignWithoutScope.key), 403, 'ip_not_allowed');

    const noScopeWrongModel = await t.issue({ scopes: ['keys:read'], allowedModels: ['local-large'] });
    expectError(await chat(noScopeWrongModel.key), 403, 'insufficient_scope');

    const wrongModelNoQuota = await t.issue({ allowedModels: ['local-large'], usageLimit: 1 });
    expectError(await chat(wrongModelNoQuota.key), 403, 'model_not_allowed');
  });

  it('does not count requests refused before the rate-limit step', async () => {
    const { key } = await t.issue({ rateLimits: { perMinute: 2 }, allowedModels: ['local-large'] });
    for (let i = 0; i < 4; i++) expectError(await chat(key), 403, 'model_not_allowed');
    const ok = await get(key);
    expect(ok.status).toBe(200);
    expect(ok.headers.ratelimit).toBe('"minute";r=1;t=60');
  });
});

describe('rate-limit headers', () => {
  it('every guarded response carries RateLimit-Policy (all windows) and RateLimit (the tightest)', async () => {
    const { key } = await t.issue({ tier: 'pro', rateLimits: { perMinute: 50 } });
    const res = await get(key);
    expect(res.headers['ratelimit-policy']).toMatch(
      /^"minute";q=50;w=60, "hour";q=2000;w=3600, "day";q=25000;w=86400, "month";q=500000;w=(2419200|2505600|2592000|2678400)$/,
    );
    expect(res.headers.ratelimit).toBe('"minute";r=49;t=60');
    const refused = await t.issue({ allowedIps: ['10.0.0.0/8'] });
    const denied = await get(refused.key);
    expect(denied.headers['ratelimit-policy']).toMatch(/^"minute";q=10;w=60/);
    expect(denied.headers.ratelimit).toBe('"minute";r=10;t=60');
  });

  it('picks the most constrained window', async () => {
    const { key } = await t.issue({ rateLimits: { perMinute: 100, perHour: 2 } });
    expect((await get(key)).headers.ratelimit).toBe('"hour";r=1;t=3600');
  });
});

describe('client IP and proxies', () => {
  it('ignores X-Forwarded-For unless TRUST_PROXY says which proxies to trust', async () => {
    const { key } = await t.issue({ allowedIps: ['203.0.113.7'] });
    expectError(await get(key).set('X-Forwarded-For', '203.0.113.7'), 403, 'ip_not_allowed');
    const proxied = await createTestApp('sqlite', { config: { trustProxy: ['loopback'] } });
    try {
      const issued = await proxied.issue({ allowedIps: ['203.0.113.0/24'] });
      const res = await request(proxied.app).get('/api/v1/models').set('Authorization', `Bearer ${issued.key}`).set('X-Forwarded-For', '203.0.113.7');
      expect(res.status).toBe(200);
      const spoofed = await request(proxied.app)
        .get('/api/v1/models')
        .set('Authorization', `Bearer ${issued.key}`)
        .set('X-Forwarded-For', '198.51.100.1');
      expectError(spoofed, 403, 'ip_not_allowed');
    } finally {
      await proxied.close();
    }
  });
});

describe('key changes reach the very next request', () => {
  it.each([
    ['revoke', 401, 'key_revoked'],
    ['deactivate', 401, 'key_inactive'],
    ['regenerate', 401, 'invalid_api_key'],
    ['delete', 401, 'invalid_api_key'],
    ['update', 403, 'insufficient_scope'],
  ])('%s', async (action, status, code) => {
    const { key, apiKey } = await t.issue();
    expect((await get(key)).status).toBe(200);
    const id = apiKey.id;
    if (action === 'revoke') await t.ctx.keys.revoke(t.tenant.id, id, testActor);
    if (action === 'deactivate') await t.ctx.keys.deactivate(t.tenant.id, id, testActor);
    if (action === 'regenerate') await t.ctx.keys.regenerate(t.tenant.id, id, testActor);
    if (action === 'delete') await t.ctx.keys.delete(t.tenant.id, id, testActor);
    if (action === 'update') await t.ctx.keys.update(t.tenant.id, id, { scopes: ['keys:read'] }, testActor);
    expectError(await get(key), status, code);
  });
});

describe('guessing', () => {
  it('answers an IP that keeps presenting invalid keys with 429 rate_limited, even for a valid key', async () => {
    const guarded = await createTestApp('sqlite', {
      config: { api: { usageFlushIntervalMs: 1000, keyCacheTtlMs: 30_000, invalidKeys: { attempts: 3, windowSeconds: 60, blockSeconds: 120 } } },
    });
    try {
      const { key } = await guarded.issue();
      const attempt = (k: string) => request(guarded.app).get('/api/v1/models').set('Authorization', `Bearer ${k}`);
      for (let i = 0; i < 3; i++) expectError(await attempt(generateKey('kw').key), 401, 'invalid_api_key');
      const blocked = await attempt(generateKey('kw').key);
      expectError(blocked, 429, 'rate_limited');
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(60);
      expectError(await attempt(key), 429, 'rate_limited');
    } finally {
      await guarded.close();
    }
  });
});
