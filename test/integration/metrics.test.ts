/**
 * GET /metrics: who may read it, and what it says after a scripted set of requests (exact counts).
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { parseConfig } from '../../src/config';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { chatBody, createTestApp, type TestApp } from '../helpers/app';
import { tempDir } from '../helpers/databases';
import { startFakeUpstream } from '../helpers/fake-upstream';
import { freePort } from '../helpers/processes';
import { REDIS_SERVER, startTestRedis } from '../helpers/redis';

const TOKEN = 'metrics-token-0123456789abcdef';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text; throws on a line that is neither a comment nor a sample. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with exactly these labels (undefined when there is none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)?.value;
}

const scrape = (t: TestApp) => request(t.app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);

describe('GET /metrics without METRICS_TOKEN', () => {
  it('answers 404, whatever the Authorization', async () => {
    const t = await createTestApp();
    try {
      for (const auth of [undefined, `Bearer ${TOKEN}`]) {
        const req = request(t.app).get('/metrics');
        const res = await (auth ? req.set('Authorization', auth) : req);
        expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 404, code: 'not_found' });
        expect(res.headers['cache-control']).toBe('no-store');
      }
    } finally {
      await t.close();
    }
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite', {
      config: {
        metrics: { token: TOKEN },
        // Usage is written when the test says so.
        api: { usageFlushIntervalMs: 3_600_000, keyCacheTtlMs: 30_000, invalidKeys: { attempts: 1000, windowSeconds: 60, blockSeconds: 60 } },
      },
      // The budget-threshold monitor reads used keys through the key cache once a second: its
      // hits would make the cache counts below depend on how long the test takes.
      alertWorkers: false,
    });
  });
  afterAll(async () => t.close());

  it('answers 401 with WWW-Authenticate: Bearer without the token, with a wrong one, or another scheme', async () => {
    const cases: [string | undefined, string][] = [
      [undefined, 'missing_metrics_token'],
      [`Bearer ${TOKEN}x`, 'invalid_metrics_token'],
      [`Bearer ${'x'.repeat(TOKEN.length)}`, 'invalid_metrics_token'],
      ['Bearer short', 'invalid_metrics_token'],
      [`Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, 'missing_metrics_token'],
    ];
    for (const [auth, code] of cases) {
      const req = request(t.app).get('/metrics');
      const res = await (auth ? req.set('Authorization', auth) : req);
      expect({ auth, status: res.status, code: res.body.error?.code, type: res.body.error?.type }).toEqual({ auth, status: 401, code, type: 'authentication_error' });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="keyward-metrics"/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text).not.toContain('keyward_');
    }
  });

  it('counts a scripted mix exactly: outcomes, requests by route and status, guard timings, key cache, usage, reservations', async () => {
    const { key, apiKey } = await t.issue({ rateLimits: { perMinute: 3 } });
    const { key: budgeted } = await t.issue({ budget: { limitCents: 500, period: 'monthly' } });
    const { key: admin } = await t.issue({ scopes: ['admin'] });
    const models = (k: string) => request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${k}`);

    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await models(key)).status); // 3 ok, then 2 rate_limited
    statuses.push((await models(generateKey('kw', apiKey.id).key)).status); // a wrong secret for a real id
    statuses.push((await models(generateKey('kw').key)).status); // an id that does not exist
    expect(statuses).toEqual([200, 200, 200, 429, 429, 401, 401]);
    const chat = await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${budgeted}`).send(chatBody());
    expect(chat.status).toBe(200);
    // Routes whose answer comes from a route handler's error, from the management guard, from no route.
    expect((await request(t.app).get('/api/v1/keys/AbCd1234EfGh').set('Authorization', `Bearer ${admin}`)).status).toBe(404);
    expect((await request(t.app).get('/API/V1/KEYS/AbCd1234EfGh').set('Authorization', `Bearer ${admin}`)).status).toBe(404);
    expect((await request(t.app).get('/api/v1/keys/AbCd1234EfGh')).status).toBe(401);
    expect((await request(t.app).get('/api/v1/nothing-here')).status).toBe(404);

    const res = await scrape(t);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers['cache-control']).toBe('no-store');
    // Labels never carry a key id or an address.
    for (const id of [apiKey.id, 'AbCd1234EfGh', '127.0.0.1', '::1']) expect(res.text).not.toContain(id);
    const s = parse(res.text);
    for (const [name, type] of [
      ['keyward_http_requests_total', 'counter'],
      ['keyward_http_request_duration_seconds', 'histogram'],
      ['keyward_guard_duration_seconds', 'histogram'],
      ['keyward_guard_outcomes_total', 'counter'],
      ['keyward_key_cache_lookups_total', 'counter'],
      ['keyward_usage_pending_requests', 'gauge'],
      ['keyward_usage_lag_seconds', 'gauge'],
      ['keyward_usage_write_failures_total', 'counter'],
      ['keyward_webhook_attempts_total', 'counter'],
      ['keyward_budget_reservations_in_flight', 'gauge'],
      ['keyward_dependency_state', 'gauge'],
      ['keyward_process_cpu_user_seconds_total', 'counter'],
    ]) {
      expect(res.text).toContain(`# TYPE ${name} ${type}\n`);
    }

    const outcome = (o: string, guard = 'api') => valueOf(s, 'keyward_guard_outcomes_total', { guard, outcome: o });
    expect({ ok: outcome('ok'), rate_limited: outcome('rate_limited'), invalid_api_key: outcome('invalid_api_key'), failed: outcome('failed') }).toEqual({
      ok: 4,
      rate_limited: 2,
      invalid_api_key: 1,
      failed: 0,
    });
    // The management guard admitted the admin key twice; its handler answered 404 both times.
    expect(outcome('failed', 'management')).toBe(2);
    expect(valueOf(s, 'keyward_guard_unknown_key_attempts_total', { guard: 'api', blocked: 'false' })).toBe(1);
    expect(valueOf(s, 'keyward_guard_unknown_key_attempts_total', { guard: 'management', blocked: 'false' })).toBe(0);

    const requests = (route: string, status: string, method = 'GET') => valueOf(s, 'keyward_http_requests_total', { route, method, status });
    expect([requests('/api/v1/models', '200'), requests('/api/v1/models', '429'), requests('/api/v1/models', '401')]).toEqual([3, 2, 2]);
    expect(requests('/api/v1/chat/completions', '200', 'POST')).toBe(1);
    expect(requests('/api/v1/keys/:id', '404')).toBe(2);
    expect(requests('/api/v1/keys/*', '401')).toBe(1);
    expect(requests('unmatched', '404')).toBe(1);
    expect(valueOf(s, 'keyward_http_request_duration_seconds_count', { route: '/api/v1/models', method: 'GET' })).toBe(7);

    expect(valueOf(s, 'keyward_guard_duration_seconds_count', { guard: 'api', result: 'admitted' })).toBe(4);
    expect(valueOf(s, 'keyward_guard_duration_seconds_count', { guard: 'api', result: 'refused' })).toBe(4);
    expect(valueOf(s, 'keyward_guard_duration_seconds_count', { guard: 'management', result: 'admitted' })).toBe(2);
    expect(valueOf(s, 'keyward_guard_duration_seconds_count', { guard: 'management', result: 'refused' })).toBe(1);

    // Looked up: the rate-limited key once (then 4 hits, and a hit for the wrong secret), the
    // budgeted and admin keys once each (then one hit), the unknown id once.
    expect(valueOf(s, 'keyward_key_cache_lookups_total', { result: 'miss' })).toBe(4);
    expect(valueOf(s, 'keyward_key_cache_lookups_total', { result: 'hit' })).toBe(6);
    expect(valueOf(s, 'keyward_key_cache_entries')).toBe(4);

    // Admitted /api requests wait in the usage buffer (management calls are not /api usage).
    expect(valueOf(s, 'keyward_usage_pending_requests')).toBe(4);
    expect(valueOf(s, 'keyward_usage_lag_seconds')).toBeGreaterThan(0);
    expect(valueOf(s, 'keyward_usage_written_requests_total')).toBe(0);
    expect(valueOf(s, 'keyward_budget_reservations_in_flight')).toBe(0);
    expect(valueOf(s, 'keyward_budget_reserved_cents')).toBe(0);
    expect(valueOf(s, 'keyward_dependency_state', { dependency: 'database', state: 'up' })).toBe(1);
    expect(valueOf(s, 'keyward_dependency_state', { dependency: 'database', state: 'down' })).toBe(0);
    expect(s.some((x) => x.name === 'keyward_redis_breaker_state')).toBe(false);

    await t.ctx.usage.flush();
    const after = parse((await scrape(t)).text);
    expect(valueOf(after, 'keyward_usage_written_requests_total')).toBe(4);
    expect(valueOf(after, 'keyward_usage_write_duration_seconds_count')).toBe(1);
    expect(valueOf(after, 'keyward_usage_pending_requests')).toBe(0);
    expect(valueOf(after, 'keyward_usage_lag_seconds')).toBe(0);
    // The scrapes count too, under their route, as do the refused ones.
    expect(valueOf(after, 'keyward_http_requests_total', { route: '/metrics', method: 'GET', status: '200' })).toBe(1);
    expect(valueOf(after, 'keyward_http_requests_total', { route: '/metrics', method: 'GET', status: '401' })).toBe(5);
  });
});

describe('GET /metrics while a response is in progress', () => {
  it('counts the budget reservation it holds, until the response ends', async () => {
    const upstream = await startFakeUpstream({ inputCentsPerMillion: 1000, outputCentsPerMillion: 4000, promptTokens: 20, completionTokens: 40, delayMs: 800 });
    const catalogPath = path.join(tempDir(), 'models.json');
    fs.writeFileSync(catalogPath, JSON.stringify({ models: [upstream.catalogModel('slow')] }));
    const { llm } = parseConfig({ MODEL_CATALOG_PATH: catalogPath });
    const t = await createTestApp('sqlite', { config: { metrics: { token: TOKEN }, llm: { models: llm.models, defaultMaxTokens: 64, upstreamTimeoutMs: 10_000 } } });
    try {
      const { key } = await t.issue({ budget: { limitCents: 500, period: 'monthly' } });
      const gauges = async () => {
        const s = parse((await scrape(t)).text);
        return { inFlight: valueOf(s, 'keyward_budget_reservations_in_flight'), cents: valueOf(s, 'keyward_budget_reserved_cents') ?? 0 };
      };
      const answered = request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send(chatBody({ model: 'slow', max_tokens: 64 })).then((res) => res.status);
      let during = await gauges();
      for (let i = 0; i < 20 && during.inFlight === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        during = await gauges();
      }
      expect(during.inFlight).toBe(1);
      expect(during.cents).toBeGreaterThan(0);
      expect(await answered).toBe(200);
      expect(await gauges()).toEqual({ inFlight: 0, cents: 0 });
    } finally {
      await t.close();
      await upstream.close();
    }
  });
});

(REDIS_SERVER ? describe : describe.skip)('GET /metrics with Redis', () => {
  it('reports the Redis breaker and Redis as a dependency', async () => {
    const redis = await startTestRedis(await freePort());
    const t = await createTestApp('sqlite', {
      config: { metrics: { token: TOKEN }, redis: { url: redis.url, failureMode: 'closed', commandTimeoutMs: 250, breakerCooldownMs: 2000 } },
    });
    try {
      await t.ctx.ready();
      const s = parse((await scrape(t)).text);
      expect(valueOf(s, 'keyward_redis_breaker_state', { state: 'closed' })).toBe(1);
      expect(valueOf(s, 'keyward_redis_breaker_state', { state: 'open' })).toBe(0);
      expect(valueOf(s, 'keyward_dependency_state', { dependency: 'redis', state: 'up' })).toBe(1);
      redis.pause(); // a Redis that stops answering is down (the check's PING times out)
      const down = parse((await scrape(t)).text);
      redis.resume();
      expect(valueOf(down, 'keyward_dependency_state', { dependency: 'redis', state: 'down' })).toBe(1);
      expect(valueOf(down, 'keyward_dependency_state', { dependency: 'database', state: 'up' })).toBe(1);
    } finally {
      await t.close();
      await redis.stop();
    }
  });
});
