/**
 * Early disconnects across three real instances on one PostgreSQL database and one Redis: 300
 * requests sent on raw sockets and closed 0-8 ms later, spread over the instances, against an
 * upstream that meters what it serves. Spend must cover what was served, no reservation may stay
 * in Redis, and every admitted request must be in usage. Skipped without PostgreSQL or redis-server.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { PasswordHasher } from '../../src/auth/password';
import { type AppContext, createContext } from '../../src/context';
import { migrate } from '../../src/data/migrations';
import { createLogger } from '../../src/logger';
import { buildConfig, testActor } from '../helpers/context';
import { createPostgresDatabase, postgresAdminUrl, type TestDatabase } from '../helpers/databases';
import { type FakeUpstream, sendAndLeave, startFakeUpstream } from '../helpers/fake-upstream';
import { freePort, type ServerProcess } from '../helpers/processes';
import { startMeteredInstances } from '../helpers/scale';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const canRun = Boolean(postgresAdminUrl && REDIS_SERVER);
const describeScale = canRun ? describe : describe.skip;

let db: TestDatabase;
let redis: TestRedis;
let ctx: AppContext;
let upstream: FakeUpstream;
let instances: ServerProcess[] = [];

describeScale('early disconnects on three PostgreSQL + Redis instances', () => {
  beforeAll(async () => {
    db = await createPostgresDatabase();
    await migrate(db.config);
    redis = await startTestRedis(await freePort());
    ctx = createContext(buildConfig(db.config), { logger: createLogger('silent'), passwords: new PasswordHasher({ log2N: 10 }) });
    upstream = await startFakeUpstream({ inputCentsPerMillion: 1000, outputCentsPerMillion: 4000, promptTokens: 20, completionTokens: 40, delayMs: 3 });
    instances = await startMeteredInstances({ count: 3, db, redis, upstream, model: 'metered', env: { INVALID_KEY_ATTEMPTS: '100000' } });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await ctx?.close();
    await upstream?.close();
    await redis?.stop();
    await db?.drop();
  }, 60_000);

  it('300 requests closed 0-8 ms after sending: spend covers what was served, no reservation left, all in usage', async () => {
    const tenant = await ctx.tenants.create({ name: 'Flood', slug: 'flood' }, testActor);
    const { key, apiKey } = await ctx.keys.create(tenant.id, { name: 'flooded', tier: 'enterprise', budget: { limitCents: 100_000, period: 'total' } }, testActor);
    const body = (stream: boolean) => JSON.stringify({ model: 'metered', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 40, stream });
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        sendAndLeave(
          instances[i % 3].port,
          { method: 'POST', path: '/api/v1/chat/completions', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body(i % 2 === 0) },
          i % 9,
          i % 3 === 0,
        ),
      ),
    );
    // Upstream calls finish or are aborted; then every instance stops gracefully (writing its usage).
    await new Promise((r) => setTimeout(r, 1500));
    const served = upstream.stats().servedMicroCents;
    const exits = await Promise.all(instances.map((i) => i.stop()));
    expect(exits).toEqual([0, 0, 0]);

    const client = new pg.Client({ connectionString: db.config.url });
    await client.connect();
    const { rows } = await client.query('SELECT "requestsOk", "requestsFailed", "spendMicroCents" FROM api_keys WHERE id = $1', [apiKey.id]);
    await client.end();
    const usage = { ok: Number(rows[0].requestsOk), failed: Number(rows[0].requestsFailed), spend: Number(rows[0].spendMicroCents) };
    expect(usage.ok + usage.failed).toBe(300);
    expect(usage.failed).toBeGreaterThan(0);
    expect(usage.spend).toBeGreaterThanOrEqual(served);

    const r = new Redis(redis.url);
    try {
      const state = await r.hgetall(`kw:ledger:{${apiKey.id}:budget}`);
      expect(Number(state.reserved)).toBe(0);
      expect(await r.hlen(`kw:ledger:{${apiKey.id}:budget}:amounts`)).toBe(0);
      expect(Number(state.used)).toBeGreaterThanOrEqual(served);
    } finally {
      r.disconnect();
    }
  }, 120_000);
});
