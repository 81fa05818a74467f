/**
 * Scale-out: two real app processes on two ports sharing one PostgreSQL database and one Redis
 * (a private redis-server this suite starts on its own port). Skipped, with a notice, where
 * PostgreSQL (TEST_DATABASE_URL) or redis-server is missing.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { migrate } from '../../src/data/migrations';
import type { AppContext } from '../../src/context';
import { createContext } from '../../src/context';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { createLogger } from '../../src/logger';
import { PasswordHasher } from '../../src/auth/password';
import { buildConfig, TEST_SECRET, testActor } from '../helpers/context';
import { createPostgresDatabase, postgresAdminUrl, type TestDatabase, tempDir } from '../helpers/databases';
import { freePort, type ServerProcess, signInOn, startServer } from '../helpers/processes';
import { REDIS_SERVER, startTestRedis, type TestRedis } from '../helpers/redis';

const canRun = Boolean(postgresAdminUrl && REDIS_SERVER);
const describeScale = canRun ? describe : describe.skip;
if (!canRun) {
  process.stderr.write(`[keyward] multi-instance tests SKIPPED: they need TEST_DATABASE_URL and redis-server (${REDIS_SERVER ?? 'not found'}).\n`);
}

let db: TestDatabase;
let redis: TestRedis;
let ctx: AppContext;
let tenantId: string;
let a: ServerProcess;
let b: ServerProcess;
let admin: string;

function serverEnv() {
  return {
    DATABASE_URL: db.config.url,
    REDIS_URL: redis.url,
    KEY_HASH_SECRET: TEST_SECRET,
    SESSION_SECRET: 's'.repeat(48),
    ADMIN_PASSWORD: 'a very good password',
    USAGE_FLUSH_INTERVAL_MS: '200',
    LOG_LEVEL: 'error',
    // X-Forwarded-For from the test (on loopback) names the client address; no other test sends it.
    TRUST_PROXY: 'loopback',
  };
}

async function startInstance(): Promise<ServerProcess> {
  return startServer({ cwd: tempDir(), port: await freePort(), env: serverEnv() });
}

async function issue(input: Record<string, unknown>) {
  return ctx.keys.create(tenantId, { name: `k${Math.random()}`, tier: 'enterprise', ...input }, testActor);
}

async function call(server: ServerProcess, key: string, path = '/api/v1/models', body?: object) {
  try {
    const res = await fetch(`${server.url}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json().catch(() => null)) as { error?: { code: string }; usage?: { prompt_tokens: number; completion_tokens: number } } | null;
    return { status: res.status, code: json?.error?.code ?? null, body: json };
  } catch {
    return { status: 0, code: 'connection_failed', body: null };
  }
}

async function storedUsage(id: string) {
  const client = new pg.Client({ connectionString: db.config.url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT "requestsOk", "requestsFailed", "spendMicroCents" FROM api_keys WHERE id = $1', [id]);
    return { ok: Number(rows[0].requestsOk), failed: Number(rows[0].requestsFailed), spend: Number(rows[0].spendMicroCents) };
  } finally {
    await client.end();
  }
}

/** Signs the bootstrap admin in on a server through the login form; the session cookie and status. */
const signIn = (server: ServerProcess) => signInOn(server, 'admin@keyward.local', 'a very good password');

describeScale('two instances on PostgreSQL + Redis', () => {
  beforeAll(async () => {
    db = await createPostgresDatabase();
    await migrate(db.config);
    redis = await startTestRedis(await freePort());
    ctx = createContext(buildConfig(db.config), { logger: createLogger('silent'), passwords: new PasswordHasher({ log2N: 10 }) });
    tenantId = (await ctx.tenants.create({ name: 'Scale', slug: 'scale' }, testActor)).id;
    admin = (await issue({ scopes: ['admin'], rateLimits: { perMinute: 10_000 } })).key;
    [a, b] = await Promise.all([startInstance(), startInstance()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await ctx?.close();
    await redis?.stop();
    await db?.drop();
  }, 60_000);

  it('a key limited to N per minute gets exactly N successes across both instances', async () => {
    const { key } = await issue({ rateLimits: { perMinute: 20 } });
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => call(i % 2 ? a : b, key)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(20);
    expect(results.filter((r) => r.status === 429 && r.code === 'rate_limited')).toHaveLength(40);
  });

  it('200 concurrent chats split across both never push spend past the budget and leave no reservation', async () => {
    // local-large: 250 c/M in, 1,000 c/M out. Worst case of this request: (3 + 4 + 4 + 5) x 250 + 500 x 1,000.
    const worstCase = (3 + 4 + 4 + 5) * 250 + 500 * 1000;
    const limitCents = Math.floor((worstCase * 25.5) / 1_000_000);
    const { key, apiKey } = await issue({ budget: { limitCents, period: 'monthly' }, rateLimits: { perMinute: 1000 } });
    const body = { model: 'local-large', max_tokens: 500, messages: [{ role: 'user', content: 'story' }] };
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => call(i % 2 ? a : b, key, '/api/v1/chat/completions', body)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(25);
    expect(results.every((r) => r.status === 200 || (r.status === 402 && r.code === 'budget_exceeded'))).toBe(true);
    const spent = ok.reduce((sum, r) => sum + (r.body?.usage?.prompt_tokens ?? 0) * 250 + (r.body?.usage?.completion_tokens ?? 0) * 1000, 0);
    expect(spent).toBeLessThanOrEqual(limitCents * 1_000_000);

    await new Promise((resolve) => setTimeout(resolve, 1000));
    const stored = await storedUsage(apiKey.id);
    expect(stored.spend).toBe(spent);
    expect(stored.spend).toBeLessThanOrEqual(limitCents * 1_000_000);
    const client = new Redis(redis.url);
    try {
      const base = `kw:ledger:{${apiKey.id}:budget}`;
      expect(await client.hget(base, 'reserved')).toBe('0');
      expect(await client.zcard(`${base}:expiries`)).toBe(0);
      expect(Number(await client.hget(base, 'used'))).toBe(spent);
    } finally {
      client.disconnect();
    }
  }, 60_000);

  it.each(['revoke', 'deactivate', 'update', 'regenerate', 'rotate', 'delete'])(
    'a %s made on instance A is enforced on instance B within 1 s',
    async (change) => {
      const { key, apiKey } = await issue({});
      expect((await call(b, key)).status).toBe(200);
      const started = Date.now();
      const path = {
        revoke: `/api/v1/keys/${apiKey.id}/revoke`,
        deactivate: `/api/v1/keys/${apiKey.id}/deactivate`,
        update: `/api/v1/keys/${apiKey.id}`,
        regenerate: `/api/v1/keys/${apiKey.id}/regenerate`,
        rotate: `/api/v1/keys/${apiKey.id}/rotate`,
        delete: `/api/v1/keys/${apiKey.id}`,
      }[change] as string;
      const method = change === 'update' ? 'PATCH' : change === 'delete' ? 'DELETE' : 'POST';
      const body = change === 'update' ? { scopes: ['keys:read'] } : change === 'rotate' ? { gracePeriodSeconds: 0 } : undefined;
      const res = await fetch(`${a.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      expect(res.status).toBeLessThan(300);
      let refused = await call(b, key);
      while (refused.status === 200 && Date.now() - started < 2000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        refused = await call(b, key);
      }
      expect(Date.now() - started).toBeLessThan(1000);
      expect(refused.status).toBe(change === 'update' ? 403 : 401);
    },
  );

  it('a scripted mix on one key across both instances: usage.outcomes, the request log and its CSV show exactly those counts', async () => {
    const { key, apiKey } = await issue({ tier: 'pro', rateLimits: { perMinute: 20 }, allowedIps: ['203.0.113.0/24'], allowedModels: ['local-small'] });
    const wrong = generateKey('kw', apiKey.id).key;
    const script = [
      ...Array.from({ length: 20 }, () => ['ok', '203.0.113.10', 'local-small', key]),
      ...Array.from({ length: 3 }, () => ['model_not_allowed', '203.0.113.10', 'local-large', key]),
      ...Array.from({ length: 2 }, () => ['ip_not_allowed', '198.51.100.9', 'local-small', key]),
      ...Array.from({ length: 2 }, () => ['invalid_api_key', '203.0.113.10', 'local-small', wrong]),
      ...Array.from({ length: 5 }, () => ['rate_limited', '203.0.113.10', 'local-small', key]),
    ];
    for (const [i, [expected, ip, model, secret]] of script.entries()) {
      const res = await fetch(`${(i % 2 ? a : b).url}/api/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'x-forwarded-for': ip },
        body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'mix' }] }),
      });
      const body = (await res.json()) as { error?: { code: string } };
      expect(res.status === 200 ? 'ok' : body.error?.code).toBe(expected);
    }
    // Both instances write every 200 ms.
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const read = (server: ServerProcess, path: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${admin}` } });
    const expected = { ok: 20, rate_limited: 5, model_not_allowed: 3, ip_not_allowed: 2, invalid_api_key: 2 };
    const usage = (await (await read(a, `/api/v1/keys/${apiKey.id}/usage`)).json()) as { outcomes: Record<string, number>; totalRequests: number };
    expect(Object.fromEntries(Object.entries(usage.outcomes).filter(([, n]) => n > 0))).toEqual(expected);
    expect(usage.totalRequests).toBe(20);
    expect(await storedUsage(apiKey.id)).toMatchObject({ ok: 20, failed: 0 });

    const log = (await (await read(b, `/api/v1/keys/${apiKey.id}/requests?limit=100`)).json()) as { data: { outcome: string; ip: string; model: string; at: string }[] };
    expect(log.data).toHaveLength(script.length);
    const counts = (rows: string[]) => rows.reduce<Record<string, number>>((c, o) => ({ ...c, [o]: (c[o] ?? 0) + 1 }), {});
    expect(counts(log.data.map((r) => r.outcome))).toEqual(expected);
    for (let i = 1; i < log.data.length; i++) expect(Date.parse(log.data[i - 1].at)).toBeGreaterThanOrEqual(Date.parse(log.data[i].at));
    expect(log.data.filter((r) => r.outcome === 'ip_not_allowed').every((r) => r.ip === '198.51.100.9')).toBe(true);
    expect(log.data.filter((r) => r.outcome === 'model_not_allowed').every((r) => r.model === 'local-large')).toBe(true);

    const csv = await read(a, `/api/v1/keys/${apiKey.id}/requests?format=csv`);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^at,outcome,status,ip,model,/);
    expect(counts(lines.slice(1).map((line) => line.split(',')[1]))).toEqual(expected);
  }, 60_000);

  it('a dashboard session made on instance A works on instance B', async () => {
    const signedIn = await signIn(a);
    expect(signedIn.status).toBe(302);
    const session = signedIn.cookie;
    expect(session).toMatch(/keyward\.sid=/);
    const onB = await fetch(`${b.url}/`, { redirect: 'manual', headers: { cookie: session } });
    expect(onB.status).toBe(200);
    expect(await onB.text()).toContain('admin@keyward.local');
    const anonymous = await fetch(`${b.url}/`, { redirect: 'manual' });
    expect(anonymous.status).toBe(302);
  });

  it('Redis stopped mid-load: only documented 503s for quota/budget keys, no crash; back to normal when Redis returns', async () => {
    const plain = await issue({ rateLimits: { perMinute: 10_000 } });
    const budgeted = await issue({ budget: { limitCents: 100_000, period: 'monthly' }, rateLimits: { perMinute: 10_000 } });
    const chat = { model: 'local-small', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
    expect((await call(a, budgeted.key, '/api/v1/chat/completions', chat)).status).toBe(200);

    await redis.stop();
    const during = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 4 < 2 ? call(i % 2 ? a : b, plain.key) : call(i % 2 ? a : b, budgeted.key, '/api/v1/chat/completions', chat))),
    );
    for (const result of during) expect([200, 503]).toContain(result.status);
    expect(during.filter((r) => r.status === 503).every((r) => r.code === 'limits_unavailable')).toBe(true);
    expect(during.filter((_, i) => i % 4 < 2).every((r) => r.status === 200)).toBe(true);
    expect(during.filter((_, i) => i % 4 >= 2).every((r) => r.status === 503)).toBe(true);
    for (const server of [a, b]) {
      expect(server.child.exitCode).toBeNull();
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    }
    // Sign-in counters fall back to the instance's memory: people can still sign in.
    expect((await signIn(b)).status).toBe(302);
    // Key changes still reach B within a second, through the key_changes poll.
    const cached = await issue({ rateLimits: { perMinute: 10_000 } });
    expect((await call(b, cached.key)).status).toBe(200);
    const revokedAt = Date.now();
    await fetch(`${a.url}/api/v1/keys/${cached.apiKey.id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    let refusedDuring = await call(b, cached.key);
    while (refusedDuring.status === 200 && Date.now() - revokedAt < 2000) refusedDuring = await call(b, cached.key);
    expect(refusedDuring.code).toBe('key_revoked');
    expect(Date.now() - revokedAt).toBeLessThan(1000);

    await redis.start();
    const deadline = Date.now() + 15_000;
    let recovered = false;
    while (!recovered && Date.now() < deadline) {
      const results = await Promise.all([a, b].map((server) => call(server, budgeted.key, '/api/v1/chat/completions', chat)));
      recovered = results.every((r) => r.status === 200);
      if (!recovered) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(recovered).toBe(true);
    // Key changes travel again too.
    expect((await call(b, plain.key)).status).toBe(200);
    await fetch(`${a.url}/api/v1/keys/${plain.apiKey.id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    const started = Date.now();
    let refused = await call(b, plain.key);
    while (refused.status === 200 && Date.now() - started < 2000) refused = await call(b, plain.key);
    expect(refused.code).toBe('key_revoked');
  }, 60_000);

  it('SIGTERM to one instance under load: every answered request is counted', async () => {
    const { key, apiKey } = await issue({ rateLimits: { perMinute: 10_000 } });
    let answered = 0;
    let stopped = false;
    const victim = a;
    const exited = new Promise<number | null>((resolve) => victim.child.on('exit', (code) => resolve(code)));
    const worker = async (server: ServerProcess) => {
      for (let i = 0; i < 40; i++) {
        const result = await call(server, key, '/api/v1/chat/completions', { model: 'local-small', messages: [{ role: 'user', content: 'count me' }] });
        if (result.status === 200) answered += 1;
        else if (!(stopped && server === victim)) throw new Error(`unexpected ${result.status} ${result.code}`);
        if (answered === 60 && !stopped) {
          stopped = true;
          victim.child.kill('SIGTERM');
        }
      }
    };
    await Promise.all([...Array.from({ length: 4 }, () => worker(victim)), ...Array.from({ length: 4 }, () => worker(b))]);
    expect(stopped).toBe(true);
    expect(await exited).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await storedUsage(apiKey.id)).toMatchObject({ ok: answered, failed: 0 });
    a = await startInstance();
  }, 60_000);
});
