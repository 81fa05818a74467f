/**
 * Opt-in CORS for /api (CORS_ORIGINS), OpenAI's x-ratelimit-* headers beside the IETF ones, and
 * x-should-retry on refusals.
 */
import request from 'supertest';
import { parseConfig } from '../../src/config';
import { apiCors } from '../../src/http/cors';
import { openAiDuration } from '../../packages/guard/src/middleware/openai-headers';
import { createTestApp, type TestApp } from '../helpers/app';
import { chatBody } from '../helpers/app';

const ORIGIN = 'https://app.example.com';
let t: TestApp;
let off: TestApp;

beforeAll(async () => {
  t = await createTestApp('sqlite', { config: { cors: parseConfig({ CORS_ORIGINS: `${ORIGIN}, http://localhost:5173` }).cors } });
  off = await createTestApp('sqlite');
});
afterAll(async () => {
  await t.close();
  await off.close();
});

describe('CORS_ORIGINS', () => {
  it('is parsed as a list of exact origins; a path, "*" or garbage is refused with the fix', () => {
    expect(parseConfig({}).cors.origins).toEqual([]);
    expect(parseConfig({ CORS_ORIGINS: 'https://A.example.com,http://[::1]:8080' }).cors.origins).toEqual(['https://a.example.com', 'http://[::1]:8080']);
    for (const bad of ['*', 'https://a.example.com/app', 'a.example.com']) {
      expect(() => parseConfig({ CORS_ORIGINS: bad })).toThrow(/CORS_ORIGINS must be a comma-separated list of origins/);
    }
    expect(() => apiCors({ origins: ['*'] })).toThrow(/never "\*"/);
  });

  it('answers a preflight from a listed origin with 204, methods, the SDK headers and Max-Age, before any guard', async () => {
    const res = await request(t.app)
      .options('/api/v1/responses')
      .set('Origin', ORIGIN)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type, x-stainless-os, x-stainless-retry-count, x-evil');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(res.headers['access-control-allow-methods']).toMatch(/POST/);
    const allowed = res.headers['access-control-allow-headers'].split(', ');
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'x-api-key', 'content-type', 'x-chatbot-id', 'x-stainless-os', 'x-stainless-retry-count']));
    expect(allowed).not.toContain('x-evil');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it('lets a listed origin read the answer and its rate-limit headers; never "*"', async () => {
    const { key } = await t.issue();
    const res = await request(t.app).get('/api/v1/models').set('Origin', ORIGIN).set('Authorization', `Bearer ${key}`);
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    const exposed = res.headers['access-control-expose-headers'];
    for (const name of ['RateLimit', 'Retry-After', 'X-Request-Id', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-tokens']) expect(exposed).toContain(name);
  });

  it('gives an unknown origin, or an app without CORS_ORIGINS, no CORS headers', async () => {
    const preflight = (app: TestApp['app'], origin: string) =>
      request(app).options('/api/v1/models').set('Origin', origin).set('Access-Control-Request-Method', 'GET');
    for (const res of [await preflight(t.app, 'https://evil.example.com'), await preflight(off.app, ORIGIN)]) {
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers['access-control-allow-methods']).toBeUndefined();
    }
    const { key } = await off.issue();
    const res = await request(off.app).get('/api/v1/models').set('Origin', ORIGIN).set('Authorization', `Bearer ${key}`);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('OpenAI rate-limit headers', () => {
  it('formats durations as OpenAI does', () => {
    expect([openAiDuration(0), openAiDuration(250), openAiDuration(1000), openAiDuration(1001), openAiDuration(360_000), openAiDuration(3_723_000)]).toEqual(['0s', '250ms', '1s', '2s', '6m0s', '1h2m3s']);
  });

  it('describe the most constrained request window and, with token windows, the tokens', async () => {
    const { key } = await t.issue({ rateLimits: { perMinute: 3, perHour: 100 }, tokenLimits: { perMinute: 5000 } });
    const res = await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send(chatBody());
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-limit-requests']).toBe('3');
    expect(res.headers['x-ratelimit-remaining-requests']).toBe('2');
    // Within a second of the minute window's reset (the test's clock is the real one) it is in ms.
    expect(res.headers['x-ratelimit-reset-requests']).toMatch(/^([1-9]\d{0,2}ms|\d+s|1m0s)$/);
    expect(res.headers['x-ratelimit-limit-tokens']).toBe('5000');
    expect(Number(res.headers['x-ratelimit-remaining-tokens'])).toBeLessThan(5000);
    expect(res.headers['x-ratelimit-reset-tokens']).toMatch(/^([1-9]\d{0,2}ms|\d+s|1m0s)$/);

    const plain = await t.issue();
    const models = await request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${plain.key}`);
    expect(models.headers['x-ratelimit-limit-requests']).toBe('10');
    expect(models.headers['x-ratelimit-limit-tokens']).toBeUndefined();
  });
});

describe('x-should-retry', () => {
  it('is false where retrying cannot help soon, true where it can', async () => {
    const missing = await request(t.app).get('/api/v1/models');
    expect([missing.status, missing.headers['x-should-retry']]).toEqual([401, 'false']);

    const limited = await t.issue({ allowedModels: ['local-large'] });
    const forbidden = await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${limited.key}`).send(chatBody());
    expect([forbidden.status, forbidden.headers['x-should-retry']]).toEqual([403, 'false']);

    const poor = await t.issue({ budget: { limitCents: 1, period: 'monthly' } });
    const broke = await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${poor.key}`).send(chatBody({ model: 'local-large', max_tokens: 5000 }));
    expect([broke.status, broke.headers['x-should-retry']]).toEqual([402, 'false']);

    // A full hour window: Retry-After is kept (the truth, for schedulers) but no SDK should sleep on it.
    const hourly = await t.issue({ rateLimits: { perMinute: 100, perHour: 1 } });
    const get = () => request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${hourly.key}`);
    await get();
    const long = await get();
    expect([long.status, long.headers['x-should-retry']]).toEqual([429, 'false']);
    expect(Number(long.headers['retry-after'])).toBeGreaterThan(60);

    const minute = await t.issue({ rateLimits: { perMinute: 1 } });
    const getMinute = () => request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${minute.key}`);
    await getMinute();
    const short = await getMinute();
    expect([short.status, short.headers['x-should-retry']]).toEqual([429, 'true']);
    expect(Number(short.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('is set on errors the routes raise too: a conflict, a bad body or an unknown id is not retried', async () => {
    const admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
    const target = await t.issue({ name: 'to revoke' });
    await request(t.app).post(`/api/v1/keys/${target.apiKey.id}/revoke`).set('Authorization', `Bearer ${admin}`).expect(200);
    const conflict = await request(t.app).post(`/api/v1/keys/${target.apiKey.id}/activate`).set('Authorization', `Bearer ${admin}`);
    expect([conflict.status, conflict.headers['x-should-retry']]).toEqual([409, 'false']);
    const invalid = await request(t.app).post('/api/v1/keys').set('Authorization', `Bearer ${admin}`).send({ name: '' });
    expect([invalid.status, invalid.headers['x-should-retry']]).toEqual([400, 'false']);
    const unknown = await request(t.app).get('/api/v1/keys/AAAAAAAAAAAA').set('Authorization', `Bearer ${admin}`);
    expect([unknown.status, unknown.headers['x-should-retry']]).toEqual([404, 'false']);
  });
});
