/**
 * Key changes reach every process through the key_changes feed, without Redis: two app contexts
 * on one database (two instances on PostgreSQL; on SQLite, like an app and the CLI). A key cached
 * by B is refused by B within a second of a change made on A.
 */
import { createApp } from '../../src/app';
import { PasswordHasher } from '../../src/auth/password';
import { parseConfig, type ResolvedConfig } from '../../src/config';
import { type AppContext, createContext } from '../../src/context';
import { migrate } from '../../src/data/migrations';
import type { KeyChange } from '../../packages/guard/src/keys/key-events';
import { createLogger } from '../../src/logger';
import { buildConfig, buildKeyInput, testActor } from '../helpers/context';
import { availableProviders, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { listen } from '../helpers/listen';
import { freePort } from '../helpers/processes';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function openContext(db: TestDatabase, config: Partial<ResolvedConfig> = {}): AppContext {
  return createContext(buildConfig(db.config, config), { logger: createLogger('silent'), passwords: new PasswordHasher({ log2N: 10 }) });
}

async function callModels(url: string, key: string): Promise<{ status: number; code: string | null }> {
  const res = await fetch(`${url}/api/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  const body = (await res.json().catch(() => null)) as { error?: { code: string } } | null;
  return { status: res.status, code: body?.error?.code ?? null };
}

/** Calls B until it stops answering 200; the answer and how long after `since` it came. */
async function untilRefused(url: string, key: string, since: number) {
  let answer = await callModels(url, key);
  while (answer.status === 200 && Date.now() - since < 5000) {
    await sleep(10);
    answer = await callModels(url, key);
  }
  return { ...answer, afterMs: Date.now() - since };
}

describe.each(availableProviders)('key changes across processes without Redis, on %s', (provider) => {
  let db: TestDatabase;
  let a: AppContext;
  let b: AppContext;
  let bUrl: string;
  let closeB: () => Promise<void>;
  let tenantId: string;
  const seenByA: KeyChange[] = [];
  const seenByB: KeyChange[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(provider);
    await migrate(db.config);
    a = openContext(db);
    b = openContext(db);
    await Promise.all([a.ready(), b.ready()]);
    a.keyEvents.subscribe((change) => seenByA.push(change));
    b.keyEvents.subscribe((change) => seenByB.push(change));
    tenantId = (await a.tenants.create({ name: 'Feed', slug: 'feed' }, testActor)).id;
    ({ url: bUrl, close: closeB } = await listen(createApp(b)));
  });
  afterAll(async () => {
    await closeB();
    await Promise.all([a.close(), b.close()]);
    await db.drop();
  });

  /** A key issued on A and cached on B (B answered 200 with it). */
  async function keyCachedOnB() {
    const issued = await a.keys.create(tenantId, buildKeyInput({ tier: 'enterprise' }), testActor);
    // B first hears of the creation (which drops any cached answer for the id), then caches the key.
    const heard = Date.now() + 5000;
    while (!seenByB.some((c) => c.keyId === issued.apiKey.id && c.kind === 'created') && Date.now() < heard) await new Promise((r) => setTimeout(r, 10));
    expect((await callModels(bUrl, issued.key)).status).toBe(200);
    expect(b.keyStore.peek(issued.apiKey.id)).toMatchObject({ id: issued.apiKey.id });
    return issued;
  }

  it('a revoke on A is enforced by B within 1 s', async () => {
    const { key, apiKey } = await keyCachedOnB();
    await a.keys.revoke(tenantId, apiKey.id, testActor);
    const refused = await untilRefused(bUrl, key, Date.now());
    expect(refused).toMatchObject({ status: 401, code: 'key_revoked' });
    expect(refused.afterMs).toBeLessThan(1000);
  });

  it('an IP-allowlist update on A is enforced by B within 1 s', async () => {
    const { key, apiKey } = await keyCachedOnB();
    await a.keys.update(tenantId, apiKey.id, { allowedIps: ['10.0.0.0/8'] }, testActor);
    const refused = await untilRefused(bUrl, key, Date.now());
    expect(refused).toMatchObject({ status: 403, code: 'ip_not_allowed' });
    expect(refused.afterMs).toBeLessThan(1000);
  });

  it('a delete on A is enforced by B within 1 s', async () => {
    const { key, apiKey } = await keyCachedOnB();
    await a.keys.delete(tenantId, apiKey.id, testActor);
    const refused = await untilRefused(bUrl, key, Date.now());
    expect(refused).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(refused.afterMs).toBeLessThan(1000);
  });

  it('a usage reset on A gives the key its quota back on B within 1 s (B counts quotas itself)', async () => {
    const { key, apiKey } = await a.keys.create(tenantId, buildKeyInput({ tier: 'enterprise', usageLimit: 2 }), testActor);
    expect((await callModels(bUrl, key)).status).toBe(200);
    expect((await callModels(bUrl, key)).status).toBe(200);
    expect(await callModels(bUrl, key)).toEqual({ status: 429, code: 'quota_exceeded' });
    // B's usage is written before the reset: a flush between the reset and its delivery would
    // count the two requests again (a race Redis narrows to milliseconds but does not close).
    await b.usage.flush();
    await a.keys.resetUsage(tenantId, apiKey.id, testActor);
    const since = Date.now();
    let answer = await callModels(bUrl, key);
    while (answer.status !== 200 && Date.now() - since < 5000) {
      await sleep(10);
      answer = await callModels(bUrl, key);
    }
    expect(answer.status).toBe(200);
    expect(Date.now() - since).toBeLessThan(1000);
  });

  it('under concurrent changes another process receives every change exactly once', async () => {
    // A fast poller makes a poll between two out-of-order commits likely, were ids to become
    // visible out of order (see lockKeyChanges).
    const c = openContext(db, { keyChanges: { pollMs: 5 } });
    try {
      await c.ready();
      const received: number[] = [];
      c.keyEvents.subscribe((change) => received.push(change.changeId as number));
      const issued = await Promise.all(Array.from({ length: 12 }, () => a.keys.create(tenantId, buildKeyInput(), testActor)));
      await Promise.all(
        issued.map(async ({ apiKey }) => {
          for (let i = 0; i < 8; i += 1) await a.keys.update(tenantId, apiKey.id, { description: `v${i}` }, testActor);
        }),
      );
      const written = (await a.database.prisma.keyChange.findMany({ where: { keyId: { in: issued.map((k) => k.apiKey.id) } } })).map(
        (row) => Number(row.id),
      );
      expect(written).toHaveLength(12 * 9);
      const deadline = Date.now() + 2000;
      while (received.filter((id) => written.includes(id)).length < written.length && Date.now() < deadline) await sleep(10);
      const mine = received.filter((id) => written.includes(id));
      expect(mine.sort((x, y) => x - y)).toEqual(written.sort((x, y) => x - y));
    } finally {
      await c.close();
    }
  });

  it('each process applies a change once: the maker from its own bus only, the other from the feed', async () => {
    const { apiKey } = await a.keys.create(tenantId, buildKeyInput(), testActor);
    await a.keys.resetUsage(tenantId, apiKey.id, testActor);
    await sleep(4 * a.config.keyChanges.pollMs);
    const onA = seenByA.filter((c) => c.keyId === apiKey.id);
    const onB = seenByB.filter((c) => c.keyId === apiKey.id);
    expect(onA.map((c) => [c.kind, c.remote])).toEqual([
      ['created', undefined],
      ['usage_reset', undefined],
    ]);
    expect(onB.map((c) => [c.kind, c.remote])).toEqual([
      ['created', true],
      ['usage_reset', true],
    ]);
    expect(onB.map((c) => c.changeId)).toEqual(onA.map((c) => c.changeId));
  });
});

const describeRedis = REDIS_SERVER ? describe : describe.skip;

describeRedis('key changes with Redis and the feed', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let a: AppContext;
  let b: AppContext;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    await migrate(db.config);
    redis = await startTestRedis(await freePort());
    const redisConfig = { redis: parseConfig({ REDIS_URL: redis.url }).redis };
    a = openContext(db, redisConfig);
    // B polls slowly, so Redis is sure to bring each change first.
    b = openContext(db, { ...redisConfig, keyChanges: { pollMs: 1000 } });
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
    await db?.drop();
  });

  it('a change Redis delivered is not applied again when the feed reads it', async () => {
    const tenantId = (await a.tenants.create({ name: 'Both', slug: 'both' }, testActor)).id;
    const { apiKey } = await a.keys.create(tenantId, buildKeyInput(), testActor);
    const seen: { change: KeyChange; at: number }[] = [];
    b.keyEvents.subscribe((change) => {
      if (change.keyId === apiKey.id && change.kind === 'usage_reset') seen.push({ change, at: Date.now() });
    });
    const madeAt = Date.now();
    await a.keys.resetUsage(tenantId, apiKey.id, testActor);
    while (seen.length === 0 && Date.now() - madeAt < 2000) await sleep(5);
    expect(seen.map((s) => s.change.kind)).toEqual(['usage_reset']);
    expect(seen[0].at - madeAt).toBeLessThan(500);
    // Two polls of B's feed later, the row has been read and skipped.
    await sleep(2500);
    expect(seen.map((s) => [s.change.kind, s.change.remote])).toEqual([['usage_reset', true]]);
  });
});
