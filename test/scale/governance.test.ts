/**
 * Limits above the key across two real instances on one PostgreSQL database and one Redis, against
 * an upstream that meters what it serves: tenant and owner budgets shared by two keys under 400 concurrent
 * chats, and a token window that admits exactly the requests whose bounds fit. Skipped without
 * PostgreSQL or redis-server.
 */
import { Redis } from 'ioredis';
import { PasswordHasher } from '../../src/auth/password';
import type { CatalogModel } from '../../src/config/model-catalog';
import { type AppContext, createContext } from '../../src/context';
import { migrate } from '../../src/data/migrations';
import { planChat } from '../../src/llm/chat-plan';
import { createLogger } from '../../src/logger';
import { buildConfig, testActor } from '../helpers/context';
import { createPostgresDatabase, postgresAdminUrl, type TestDatabase } from '../helpers/databases';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream';
import { freePort, type ServerProcess } from '../helpers/processes';
import { startMeteredInstances } from '../helpers/scale';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const canRun = Boolean(postgresAdminUrl && REDIS_SERVER);
const describeScale = canRun ? describe : describe.skip;
if (!canRun) process.stderr.write('[keyward] governance scale tests SKIPPED: they need TEST_DATABASE_URL and redis-server.\n');

const BODY = { model: 'metered', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 100 };

let db: TestDatabase;
let redis: TestRedis;
let ctx: AppContext;
let upstream: FakeUpstream;
let instances: ServerProcess[] = [];
let bound: number;
let promptBound: number;

async function chat(server: ServerProcess, key: string) {
  const res = await fetch(`${server.url}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(BODY),
  });
  const json = (await res.json().catch(() => null)) as { error?: { code: string; level?: string }; usage?: { prompt_tokens: number; completion_tokens: number } } | null;
  return { status: res.status, error: json?.error ?? null, usage: json?.usage ?? null };
}

/** What Redis holds for a counter (used and reserved), once settlements have arrived. */
async function counter(client: Redis, subject: string, kind: string) {
  const [used, reserved] = await client.hmget(`kw:ledger:{${subject}:${kind}}`, 'used', 'reserved');
  return { used: Number(used ?? 0), reserved: Number(reserved ?? 0) };
}

/** Waits until at least `seconds` are left in the current UTC minute (windows are calendar minutes). */
async function awayFromMinuteEnd(seconds: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < seconds * 1000) await new Promise((r) => setTimeout(r, left + 200));
}

describeScale('limits above the key on two PostgreSQL + Redis instances', () => {
  beforeAll(async () => {
    db = await createPostgresDatabase();
    await migrate(db.config);
    redis = await startTestRedis(await freePort());
    ctx = createContext(buildConfig(db.config), { logger: createLogger('silent'), passwords: new PasswordHasher({ log2N: 10 }), alertWorkers: false });
    const prices = { inputCentsPerMillion: 1000, outputCentsPerMillion: 4000 };
    // The request's token bound, as the guard computes it; the upstream then uses exactly that many
    // tokens, so settlements give nothing back and "fits" is exact whatever the timing.
    const model = { id: 'metered', ownedBy: 'fake', created: 1, ...prices, maxOutputTokens: 4096 } as CatalogModel;
    const plan = planChat(BODY, new Map([['metered', model]]), 1024);
    bound = plan.maxTotalTokens;
    promptBound = bound - BODY.max_tokens;
    upstream = await startFakeUpstream({ ...prices, promptTokens: promptBound, completionTokens: BODY.max_tokens, delayMs: 50 });
    instances = await startMeteredInstances({ count: 2, db, redis, upstream, model: 'metered' });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await ctx?.close();
    await upstream?.close();
    await redis?.stop();
    await db?.drop();
  }, 60_000);

  /**
   * 400 concurrent chats over both instances, alternating two keys of a new tenant (3-cent key
   * budgets); `ownerCents` puts the first key under an owner budget. Checks that no level passed
   * its budget and that nothing stays reserved in Redis.
   */
  async function flood(slug: string, tenantCents: number, ownerCents: number | null) {
    const tenant = await ctx.tenants.create({ name: slug, slug }, testActor);
    await ctx.levels.updateTenant(tenant.id, { budget: { limitCents: tenantCents, period: 'monthly' } }, testActor);
    let ownerId: string | null = null;
    if (ownerCents !== null) {
      ownerId = (await ctx.users.create({ email: `owner@${slug}.test`, password: 'a long enough password' }, testActor)).id;
      await ctx.users.setMembership(ownerId, tenant.id, 'member', testActor);
      await ctx.levels.updateOwner(tenant.id, ownerId, { budget: { limitCents: ownerCents, period: 'monthly' } }, testActor);
    }
    const keys = await Promise.all(
      [ownerId, null].map((owner, i) =>
        ctx.keys.create(tenant.id, { name: `k${i}`, tier: 'enterprise', ownerId: owner, rateLimits: { perMinute: 1000 }, budget: { limitCents: 3, period: 'monthly' } }, testActor),
      ),
    );
    const servedBefore = upstream.stats().servedMicroCents;
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => chat(instances[i % 2], keys[(i >> 1) % 2].key).then((r) => ({ ...r, key: (i >> 1) % 2 }))));
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThan(0);
    expect(results.every((r) => r.status === 200 || (r.status === 402 && r.error?.code === 'budget_exceeded'))).toBe(true);
    // Which level refuses first depends on the interleaving; every refusal names one.
    const levels = new Set(results.filter((r) => r.status === 402).map((r) => r.error?.level));
    expect(levels.size).toBeGreaterThan(0);
    for (const level of levels) expect(['key', 'owner', 'tenant']).toContain(level);
    const cost = (u: { prompt_tokens: number; completion_tokens: number }) => u.prompt_tokens * 1000 + u.completion_tokens * 4000;
    const servedBy = (k: number) => ok.filter((r) => r.key === k).reduce((sum, r) => sum + cost(r.usage as { prompt_tokens: number; completion_tokens: number }), 0);
    // What the upstream served (and billed) for this tenant is its spend.
    const served = upstream.stats().servedMicroCents - servedBefore;
    expect(served).toBe(servedBy(0) + servedBy(1));
    expect(served).toBeLessThanOrEqual(tenantCents * 1_000_000);
    expect(servedBy(0)).toBeLessThanOrEqual(Math.min(3, ownerCents ?? 3) * 1_000_000);
    expect(servedBy(1)).toBeLessThanOrEqual(3_000_000);
    // Settlements arrive as responses close: then nothing stays reserved anywhere.
    const client = new Redis(redis.url);
    try {
      const subjects = [`tenant:${tenant.id}`, ...keys.map((k) => k.apiKey.id), ...(ownerId ? [`owner:${tenant.id}:${ownerId}`] : [])];
      let counters = await Promise.all(subjects.map((s) => counter(client, s, 'budget')));
      for (let i = 0; i < 20 && counters.some((c) => c.reserved > 0); i++) {
        await new Promise((r) => setTimeout(r, 100));
        counters = await Promise.all(subjects.map((s) => counter(client, s, 'budget')));
      }
      expect(counters.map((c) => c.reserved)).toEqual(subjects.map(() => 0));
      expect(counters.map((c) => c.used)).toEqual([served, servedBy(0), servedBy(1), ...(ownerId ? [servedBy(0)] : [])]);
    } finally {
      client.disconnect();
    }
  }

  it('a tenant budget of 5 cents, two keys with 3-cent budgets, 400 concurrent chats over both instances: the tenant spends at most 5 cents, each key at most 3, nothing stays reserved', async () => {
    await flood('five-cents', 5, null);
  }, 60_000);

  it('the same under a 4-cent tenant budget with one key under a 2-cent owner budget: no level is passed', async () => {
    await flood('owner-and-tenant', 4, 2);
  }, 60_000);

  it('a key with 2,000 tokens per minute admits exactly the requests whose token bounds fit, across both instances', async () => {
    const tenant = await ctx.tenants.create({ name: 'Tokens', slug: 'tokens' }, testActor);
    const { key } = await ctx.keys.create(tenant.id, { name: 'tpm', tier: 'enterprise', rateLimits: { perMinute: 1000 }, tokenLimits: { perMinute: 2000 } }, testActor);
    await awayFromMinuteEnd(10);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(instances[i % 2], key)));
    const fits = Math.floor(2000 / bound);
    expect(fits).toBeGreaterThan(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(fits);
    const refused = results.filter((r) => r.status !== 200);
    expect(refused.every((r) => r.status === 429 && r.error?.code === 'rate_limited' && r.error.level === 'key')).toBe(true);
  }, 60_000);
});
