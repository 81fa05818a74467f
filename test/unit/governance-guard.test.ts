/**
 * The guard's governance above the key, on a bare Express app (the middleware as a library):
 * levels (owner and tenant budgets, request and token windows) reserved in one step, token
 * windows, the concurrency cap and refilling quotas, with an injected clock.
 */
import type { AddressInfo } from 'node:net';
import express, { type Request } from 'express';
import request from 'supertest';
import { apiKeyAuth, cachedKeyStore, createMemoryLimits, generateKey, KeyHasher } from '../../src';
import { NO_LIMITS, type LevelLimits } from '../../packages/guard/src/governance/level-types';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';
import type { LimitBackend } from '../../packages/guard/src/limits/limits';
import type { LevelEntry } from '../../packages/guard/src/middleware/claims';
import { buildKeyRecord } from '../helpers/key-record';

const hasher = new KeyHasher({ 1: 'governance-test-secret-0123456789abcdefghij' });
const NOON = Date.UTC(2026, 10, 29, 12, 0, 0);

interface Harness {
  app: express.Express;
  limits: LimitBackend;
  clock: { now: number };
  /** Resolves held handlers (requests wait for it when sent with `x-hold: 1`). */
  release(): void;
  /** Handlers waiting for release() now. */
  held(): number;
}

function level(kind: 'owner' | 'tenant', limits: Partial<LevelLimits>): LevelEntry {
  return {
    level: kind,
    subject: kind === 'tenant' ? 'tenant:acme' : 'owner:acme:ana',
    label: kind,
    limits: { ...NO_LIMITS, ...limits },
    budgetBaseline: { used: 0, ceiling: 0, periodStart: -1 },
  };
}

/** A guarded app: cost and token bounds come from headers, the handler reports what x-used-* say. */
function harness(records: ApiKeyRecord[], levels: LevelEntry[] = []): Harness {
  const byId = new Map(records.map((r) => [r.id, r]));
  const limits = createMemoryLimits();
  const clock = { now: NOON };
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let waiting = 0;
  const app = express();
  app.use(
    apiKeyAuth({
      keys: cachedKeyStore({ findKey: async (id) => byId.get(id) ?? null }),
      hasher,
      limits,
      now: () => clock.now,
      levels: { levelsOf: () => levels },
      maxCost: (req: Request) => Number(req.get('x-cost') ?? 0),
      maxTokens: (req: Request) => Number(req.get('x-tokens') ?? 0),
    }),
  );
  app.get('/', async (req, res) => {
    if (req.get('x-hold')) {
      waiting += 1;
      await gate;
      waiting -= 1;
    }
    req.apiKey?.reportUsage({ tokens: Number(req.get('x-used-tokens') ?? 0), costMicroCents: Number(req.get('x-used-cost') ?? 0) });
    res.json({ ok: true });
  });
  return {
    app,
    limits,
    clock,
    release: () => {
      open();
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    held: () => waiting,
  };
}

/** Waits until every one of `requests` was either refused (answered) or is held in the handler. */
async function decided(h: Harness, requests: Promise<unknown>[]): Promise<void> {
  let answered = 0;
  for (const r of requests) void r.then(() => (answered += 1));
  const until = Date.now() + 10_000;
  while (answered + h.held() < requests.length) {
    if (Date.now() > until) throw new Error(`${answered} answered, ${h.held()} held of ${requests.length}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const newKey = (overrides: Partial<ApiKeyRecord> = {}) => {
  const key = generateKey('kw').key;
  return { key, record: buildKeyRecord({ key, ...overrides }, hasher) };
};

/** Starts the app on a port (held requests need a real server to stay in flight together). */
async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function get(url: string, key: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}`, ...headers } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { error?: { code: string; level?: string; message: string } } };
}

describe('levels above the key', () => {
  it('a tenant budget holds across two keys under concurrency; each key stays within its own budget; nothing stays reserved', async () => {
    const a = newKey({ budget: { limitCents: 4, period: 'total' }, tier: 'enterprise' });
    const b = newKey({ budget: { limitCents: 4, period: 'total' }, tier: 'enterprise' });
    const h = harness([a.record, b.record], [level('tenant', { budget: { limitCents: 5, period: 'total' } })]);
    const server = await listen(h.app);
    // 0.1 cent per request (100,000 micro-cents): at most 50 fit the tenant, 40 each key.
    const cost = { 'x-cost': '100000', 'x-used-cost': '100000' };
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => get(`${server.url}/`, i % 2 ? a.key : b.key, cost)),
    );
    await server.close();
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok).toBe(50);
    const refusals = results.filter((r) => r.status === 402);
    expect(refusals.length).toBe(150);
    expect(refusals.every((r) => r.body.error?.code === 'budget_exceeded')).toBe(true);
    expect(new Set(refusals.map((r) => r.body.error?.level))).toEqual(new Set(['tenant']));
    const tenant = await h.limits.ledger.usage('tenant:acme', 'budget', 0, { used: 0, ceiling: 0, periodStart: -1 });
    expect(tenant).toEqual({ used: 5_000_000, reserved: 0 });
    for (const k of [a.record, b.record]) {
      const usage = await h.limits.ledger.usage(k.id, 'budget', 0, { used: 0, ceiling: 0, periodStart: -1 });
      expect(usage.used).toBeLessThanOrEqual(4_000_000);
      expect(usage.reserved).toBe(0);
    }
  });

  it('an owner budget holds across the owner\'s keys under concurrency, beside a larger tenant budget', async () => {
    const a = newKey({ ownerId: 'ana', tier: 'enterprise' });
    const b = newKey({ ownerId: 'ana', tier: 'enterprise' });
    const h = harness([a.record, b.record], [level('owner', { budget: { limitCents: 2, period: 'monthly' } }), level('tenant', { budget: { limitCents: 5, period: 'monthly' } })]);
    const server = await listen(h.app);
    const cost = { 'x-cost': '100000', 'x-used-cost': '100000' };
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => get(`${server.url}/`, i % 2 ? a.key : b.key, cost)));
    await server.close();
    expect(results.filter((r) => r.status === 200)).toHaveLength(20);
    expect(new Set(results.filter((r) => r.status === 402).map((r) => r.body.error?.level))).toEqual(new Set(['owner']));
    const month = Date.UTC(2026, 10, 1);
    expect(await h.limits.ledger.usage('owner:acme:ana', 'budget', month, { used: 0, ceiling: 0, periodStart: -1 })).toEqual({ used: 2_000_000, reserved: 0 });
    expect(await h.limits.ledger.usage('tenant:acme', 'budget', month, { used: 0, ceiling: 0, periodStart: -1 })).toEqual({ used: 2_000_000, reserved: 0 });
  });

  it('a refusal at one level holds nothing at the others, and the message and error.level name it', async () => {
    const a = newKey({ budget: { limitCents: 100, period: 'total' }, ownerId: 'ana' });
    const h = harness([a.record], [level('owner', { rateLimits: { perMinute: 2, perHour: null, perDay: null, perMonth: null } }), level('tenant', { budget: { limitCents: 100, period: 'total' } })]);
    const app = request(h.app);
    const send = () => app.get('/').set('authorization', `Bearer ${a.key}`).set('x-cost', '1000');
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited', level: 'owner' });
    expect(refused.body.error.message).toMatch(/owner: 2 requests per minute/);
    expect(Number(refused.headers['retry-after'])).toBe(60);
    // Nor counted in the key's own request windows (2 requests so far, not 3).
    const windows = await h.limits.rateWindows.peek(a.record.id, { perMinute: 20, perHour: 200, perDay: 1000, perMonth: 10000 });
    expect(windows.find((w) => w.window === 'minute')?.used).toBe(2);
    // The key's and the tenant's budgets were not held by the refused request.
    expect(await h.limits.ledger.usage(a.record.id, 'budget', 0, { used: 0, ceiling: 0, periodStart: -1 })).toEqual({ used: 0, reserved: 0 });
    expect(await h.limits.ledger.usage('tenant:acme', 'budget', 0, { used: 0, ceiling: 0, periodStart: -1 })).toEqual({ used: 0, reserved: 0 });
    // The next minute lets it through again.
    h.clock.now += 60_000;
    expect((await send()).status).toBe(200);
  });

  it('key-level refusals say level "key"', async () => {
    const a = newKey({ usageLimit: 1 });
    const h = harness([a.record]);
    const app = request(h.app);
    expect((await app.get('/').set('authorization', `Bearer ${a.key}`)).status).toBe(200);
    const refused = await app.get('/').set('authorization', `Bearer ${a.key}`);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'quota_exceeded', level: 'key' });
  });
});

describe('token windows', () => {
  it('admits exactly the requests whose token bounds fit, then settles to the real tokens', async () => {
    const a = newKey({ tokenLimits: { perMinute: 2000, perDay: null }, tier: 'enterprise' });
    const h = harness([a.record]);
    const server = await listen(h.app);
    // Each request may use up to 300 tokens: 6 fit in 2,000 while all are in flight.
    const pending = Array.from({ length: 20 }, () => get(`${server.url}/`, a.key, { 'x-tokens': '300', 'x-used-tokens': '100', 'x-hold': '1' }));
    await decided(h, pending);
    h.release();
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.status === 200)).toHaveLength(6);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(14);
    expect(refused[0].body.error).toMatchObject({ code: 'rate_limited', level: 'key' });
    expect(refused[0].body.error?.message).toMatch(/Token limit reached \(the API key: 2,000 tokens per minute/);
    // Settled to what was used: 6 x 100 = 600; 1,400 left, so 4 more requests of 300 fit now.
    const more = Array.from({ length: 5 }, () => get(`${server.url}/`, a.key, { 'x-tokens': '300', 'x-used-tokens': '300', 'x-hold': '1' }));
    await decided(h, more);
    h.release();
    const after = await Promise.all(more);
    await server.close();
    expect(after.filter((r) => r.status === 200)).toHaveLength(4);
    expect(await h.limits.ledger.usage(a.record.id, 'tokens:minute', NOON, { used: 0, ceiling: 0, periodStart: -1 })).toEqual({ used: 1800, reserved: 0 });
  });

  it('shows the token windows in RateLimit-Policy and RateLimit beside the request windows', async () => {
    const a = newKey({ tokenLimits: { perMinute: 2000, perDay: 50_000 } });
    const h = harness([a.record]);
    const res = await request(h.app).get('/').set('authorization', `Bearer ${a.key}`).set('x-tokens', '300').set('x-used-tokens', '120');
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit-policy']).toMatch(/"minute";q=\d+;w=60.*"tokens-minute";q=2000;w=60, "tokens-day";q=50000;w=86400/);
    expect(res.headers.ratelimit).toMatch(/"tokens-minute";r=1700;t=60, "tokens-day";r=49700;t=\d+/);
  });

  it('a request larger than the window is refused with a message saying so, and requests without tokens are not counted', async () => {
    const a = newKey({ tokenLimits: { perMinute: 500, perDay: null } });
    const h = harness([a.record]);
    const big = await request(h.app).get('/').set('authorization', `Bearer ${a.key}`).set('x-tokens', '501');
    expect(big.status).toBe(429);
    expect(big.body.error.message).toMatch(/may use up to 501 tokens, more than the API key's limit of 500 tokens per minute/);
    expect((await request(h.app).get('/').set('authorization', `Bearer ${a.key}`)).status).toBe(200);
  });
});

describe('concurrency cap', () => {
  it('refuses beyond maxConcurrentRequests with Retry-After: 1 and admits again once a request ended', async () => {
    const a = newKey({ maxConcurrentRequests: 2 });
    const h = harness([a.record]);
    const server = await listen(h.app);
    const held = [get(`${server.url}/`, a.key, { 'x-hold': '1' }), get(`${server.url}/`, a.key, { 'x-hold': '1' })];
    await decided(h, held);
    const third = await get(`${server.url}/`, a.key);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(third.body.error).toMatchObject({ code: 'rate_limited', level: 'key' });
    expect(third.body.error?.message).toMatch(/already has 2 requests in progress/);
    h.release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    expect((await get(`${server.url}/`, a.key)).status).toBe(200);
    await server.close();
    expect(await h.limits.ledger.usage(a.record.id, 'concurrent', 0, { used: 0, ceiling: 0, periodStart: -1 })).toEqual({ used: 0, reserved: 0 });
  });

  it('releases the slot of a client that left before the answer', async () => {
    const a = newKey({ maxConcurrentRequests: 1 });
    const h = harness([a.record]);
    const server = await listen(h.app);
    const controller = new AbortController();
    const gone = fetch(`${server.url}/`, { headers: { authorization: `Bearer ${a.key}`, 'x-hold': '1' }, signal: controller.signal }).catch(() => null);
    while (h.held() < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    await gone;
    // The slot comes back when the server sees the connection close (not at a fixed delay).
    const slot = () => h.limits.ledger.usage(a.record.id, 'concurrent', 0, { used: 0, ceiling: 0, periodStart: -1 });
    for (let i = 0; i < 500 && (await slot()).reserved > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await slot()).toEqual({ used: 0, reserved: 0 });
    expect((await get(`${server.url}/`, a.key)).status).toBe(200);
    h.release();
    await server.close();
  });
});

describe('refilling quota', () => {
  it('a daily quota of 3 refuses the 4th request and accepts again after 00:00 UTC', async () => {
    const a = newKey({ usageLimit: 3, usageLimitPeriod: 'daily' });
    const h = harness([a.record]);
    h.clock.now = Date.UTC(2026, 10, 29, 23, 59, 0);
    const app = request(h.app);
    const send = () => app.get('/').set('authorization', `Bearer ${a.key}`);
    for (let i = 0; i < 3; i += 1) expect((await send()).status).toBe(200);
    const fourth = await send();
    expect(fourth.status).toBe(429);
    expect(fourth.body.error).toMatchObject({ code: 'quota_exceeded', level: 'key' });
    expect(fourth.body.error.message).toMatch(/daily quota of 3 requests\. It restarts at 2026-11-30T00:00:00\.000Z/);
    expect(fourth.headers['retry-after']).toBe('60');
    h.clock.now = Date.UTC(2026, 10, 30, 0, 0, 0);
    for (let i = 0; i < 3; i += 1) expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(429);
  });

  it('a monthly quota restarts on the 1st; a total quota never does', async () => {
    const monthly = newKey({ usageLimit: 1, usageLimitPeriod: 'monthly' });
    const total = newKey({ usageLimit: 1 });
    const h = harness([monthly.record, total.record]);
    const app = request(h.app);
    h.clock.now = Date.UTC(2026, 10, 30, 23, 0, 0);
    for (const k of [monthly, total]) expect((await app.get('/').set('authorization', `Bearer ${k.key}`)).status).toBe(200);
    for (const k of [monthly, total]) expect((await app.get('/').set('authorization', `Bearer ${k.key}`)).status).toBe(429);
    h.clock.now = Date.UTC(2026, 11, 1, 0, 0, 1);
    expect((await app.get('/').set('authorization', `Bearer ${monthly.key}`)).status).toBe(200);
    const stillOut = await app.get('/').set('authorization', `Bearer ${total.key}`);
    expect(stillOut.status).toBe(429);
    expect(stillOut.headers['retry-after']).toBeUndefined();
  });
});
