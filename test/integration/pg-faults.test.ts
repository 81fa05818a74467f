/**
 * PostgreSQL faults against a real app process (dist/server.js), no mocks of pg:
 * - every backend of the app's database terminated (what a failover, restart or pooler does),
 *   16 times under load: the process survives and usage equals what clients were answered;
 * - a silent database (a TCP proxy that stops forwarding: a network partition): /healthz, the
 *   management API and uncached keys answer 503 within the configured timeouts, never hang or 500,
 *   and everything answers again after the partition without a restart.
 * Skipped, with a notice from global setup, where TEST_DATABASE_URL is unset.
 */
import pg from 'pg';
import { PasswordHasher } from '../../src/auth/password';
import { type AppContext, createContext } from '../../src/context';
import { migrate } from '../../src/data/migrations';
import { createLogger } from '../../src/logger';
import { buildConfig, TEST_SECRET, testActor } from '../helpers/context';
import { createPostgresDatabase, describePostgres, postgresAdminUrl, type TestDatabase, tempDir } from '../helpers/databases';
import { freePort, type ServerProcess, signInOn, startServer } from '../helpers/processes';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

const ADMIN_PASSWORD = 'a very good password';
const CHAT = { model: 'local-small', max_tokens: 8, messages: [{ role: 'user', content: 'count me' }] };
/** local-small's prices: cents per million tokens = micro-cents per token. */
const PRICE = { input: 15, output: 60 };

interface Answer {
  status: number;
  code: string | null;
  ms: number;
  retryAfter: string | null;
  body: { usage?: { prompt_tokens: number; completion_tokens: number } } | null;
  text: string;
}

async function call(url: string, key: string | null, init: { method?: string; body?: object; cookie?: string } = {}): Promise<Answer> {
  const started = Date.now();
  try {
    const res = await fetch(url, {
      method: init.method ?? (init.body ? 'POST' : 'GET'),
      redirect: 'manual',
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.cookie ? { cookie: init.cookie } : {}),
      },
      body: init.body ? JSON.stringify(init.body) : undefined,
      // Far above every bound asserted here: a request still open by then hangs.
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let json: { error?: { code?: string } } | null = null;
    try {
      json = JSON.parse(text);
    } catch {
      // an HTML page
    }
    const retryAfter = res.headers.get('retry-after');
    return { status: res.status, code: json?.error?.code ?? null, ms: Date.now() - started, retryAfter, body: json as Answer['body'], text };
  } catch {
    return { status: 0, code: 'connection_failed', ms: Date.now() - started, retryAfter: null, body: null, text: '' };
  }
}

async function storedUsage(db: TestDatabase, id: string) {
  const client = new pg.Client({ connectionString: db.config.url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT "requestsOk", "requestsFailed", "tokens", "spendMicroCents" FROM api_keys WHERE id = $1', [id]);
    const [row] = rows;
    return { ok: Number(row.requestsOk), failed: Number(row.requestsFailed), tokens: Number(row.tokens), spend: Number(row.spendMicroCents) };
  } finally {
    await client.end();
  }
}

/** Ends every connection of `database` except the caller's, as a failover or `pg_terminate_backend` does. */
async function terminateBackends(admin: pg.Client, database: string): Promise<number> {
  const { rows } = await admin.query(
    'SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
  return rows.filter((r) => r.done).length;
}

/** Signs the bootstrap admin in through the login form; returns the session cookie. */
async function signIn(server: ServerProcess): Promise<string> {
  const { status, cookie } = await signInOn(server, 'admin@keyward.local', ADMIN_PASSWORD);
  if (status !== 302) throw new Error(`sign-in answered ${status}`);
  return cookie;
}

function serverEnv(databaseUrl: string, extra: Record<string, string> = {}) {
  return {
    DATABASE_URL: databaseUrl,
    KEY_HASH_SECRET: TEST_SECRET,
    SESSION_SECRET: 's'.repeat(48),
    ADMIN_PASSWORD,
    USAGE_FLUSH_INTERVAL_MS: '200',
    LOG_LEVEL: 'error',
    ...extra,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describePostgres('PostgreSQL faults (real app process)', () => {
  let db: TestDatabase;
  let ctx: AppContext;
  let tenantId: string;
  let admin: pg.Client;
  const databaseName = () => new URL(db.config.url).pathname.slice(1);

  async function issue(input: Record<string, unknown>) {
    return ctx.keys.create(tenantId, { name: `k${Math.random()}`, tier: 'enterprise', ...input }, testActor);
  }

  /** A few at a time: a burst beyond the pool would wait past the connect timeout. */
  async function issueMany(count: number, input: Record<string, unknown>) {
    const created: Awaited<ReturnType<typeof issue>>[] = [];
    while (created.length < count) {
      const batch = Array.from({ length: Math.min(5, count - created.length) }, () => issue(input));
      created.push(...(await Promise.all(batch)));
    }
    return created;
  }

  beforeAll(async () => {
    db = await createPostgresDatabase();
    await migrate(db.config);
    ctx = createContext(buildConfig(db.config), { logger: createLogger('silent'), passwords: new PasswordHasher({ log2N: 10 }) });
    tenantId = (await ctx.tenants.create({ name: 'Faults', slug: 'faults' }, testActor)).id;
    admin = new pg.Client({ connectionString: postgresAdminUrl });
    await admin.connect();
  }, 60_000);

  afterAll(async () => {
    await admin?.end();
    await ctx?.close();
    await db?.drop();
  }, 60_000);

  it('every backend terminated 16 times under load: no crash, stored usage equals the answers clients saw', async () => {
    const limits = { rateLimits: { perMinute: 10_000, perHour: 100_000 } };
    const hot = await issueMany(6, limits);
    // Keys used for the first time while connections are being ended: their lookups hit the database.
    const fresh = await issueMany(120, limits);
    const server = await startServer({ cwd: tempDir(), port: await freePort(), env: serverEnv(db.config.url) });
    let stopping = false;
    let exitedDuringLoad: number | null | undefined;
    server.child.on('exit', (code) => {
      if (!stopping) exitedDuringLoad = code;
    });
    try {
      const expected = new Map<string, { ok: number; failed: number; tokens: number; spend: number }>();
      const tally = (id: string) => {
        let entry = expected.get(id);
        if (!entry) expected.set(id, (entry = { ok: 0, failed: 0, tokens: 0, spend: 0 }));
        return entry;
      };
      const refusedByGuard: Answer[] = [];
      const afterGuardFailures: Answer[] = [];
      const noAnswer: Answer[] = [];
      let freshIndex = 0;
      let running = true;
      let answeredOk = 0;

      // GET /v1/models and POST /v1/chat/completions touch the database only in the guard's key lookup;
      // GET /v1/key reads the tenant after the guard, so a failure there is a counted (failed) request.
      const loop = async (worker: number) => {
        for (let i = 0; running; i++) {
          const useFresh = i % 5 === 4 && freshIndex < fresh.length;
          const created = useFresh ? fresh[freshIndex++] : hot[(worker + i) % hot.length];
          const kind = useFresh ? i % 2 : i % 3;
          const path = kind === 0 ? '/api/v1/chat/completions' : kind === 1 ? '/api/v1/models' : '/api/v1/key';
          const answer = await call(`${server.url}${path}`, created.key, kind === 0 ? { body: CHAT } : {});
          const entry = tally(created.apiKey.id);
          if (answer.status === 0) noAnswer.push(answer);
          else if (answer.status === 200) {
            entry.ok += 1;
            answeredOk += 1;
            if (answer.body?.usage) {
              entry.tokens += answer.body.usage.prompt_tokens + answer.body.usage.completion_tokens;
              entry.spend += answer.body.usage.prompt_tokens * PRICE.input + answer.body.usage.completion_tokens * PRICE.output;
            }
          } else if (path === '/api/v1/key' && !useFresh) {
            // Hot keys are cached: a non-2xx here came from the handler, after the guard.
            entry.failed += 1;
            afterGuardFailures.push(answer);
          } else refusedByGuard.push(answer);
        }
      };

      // Warm the hot keys' cache entries before the faults start.
      for (const created of hot) expect((await call(`${server.url}/api/v1/models`, created.key)).status).toBe(200);
      for (const created of hot) tally(created.apiKey.id).ok += 1;

      const workers = Array.from({ length: 24 }, (_, i) => loop(i));
      let terminated = 0;
      for (let round = 0; round < 16; round++) {
        await sleep(150 + Math.floor(Math.random() * 150));
        terminated += await terminateBackends(admin, databaseName());
      }
      // Enough served traffic to compare with what was stored, however busy the machine is.
      const enough = Date.now() + 60_000;
      await sleep(500);
      while (answeredOk <= 500 && Date.now() < enough) await sleep(100);
      running = false;
      await Promise.all(workers);

      if (exitedDuringLoad !== undefined) throw new Error(`the app exited (${exitedDuringLoad}) during the faults:\n${server.output().slice(-3000)}`);
      expect(server.child.exitCode).toBeNull();
      expect(noAnswer).toEqual([]);
      expect(terminated).toBeGreaterThanOrEqual(16);
      expect(freshIndex).toBeGreaterThan(20);
      // Only the documented 503s: a lookup that failed in the guard, a read that failed after it.
      for (const answer of refusedByGuard) {
        expect([answer.status, answer.code]).toEqual([503, expect.stringMatching(/^(service|database)_unavailable$/)]);
      }
      for (const answer of afterGuardFailures) expect([answer.status, answer.code]).toEqual([503, 'database_unavailable']);
      expect((await call(`${server.url}/healthz`, null)).status).toBe(200);

      stopping = true;
      expect(await server.stop()).toBe(0);
      let served = 0;
      for (const [id, counts] of expected) {
        served += counts.ok;
        expect({ id, ...(await storedUsage(db, id)) }).toEqual({ id, ...counts });
      }
      expect(served).toBeGreaterThan(500);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  }, 120_000);

  describe('a silent database (network partition)', () => {
    let proxy: TcpProxy;
    let server: ServerProcess;
    const QUERY_MS = 1000;
    const CONNECT_MS = 1000;

    beforeAll(async () => {
      proxy = await startTcpProxy(Number(new URL(db.config.url).port || 5432), new URL(db.config.url).hostname);
      const url = new URL(db.config.url);
      url.port = String(proxy.port);
      server = await startServer({
        cwd: tempDir(),
        port: await freePort(),
        env: serverEnv(url.toString(), { DATABASE_QUERY_TIMEOUT_MS: String(QUERY_MS), DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_MS) }),
      });
    }, 60_000);

    afterAll(async () => {
      proxy?.resume();
      await server?.stop();
      await proxy?.close();
    }, 60_000);

    it('answers 503 within the timeouts while paused (never 500, never a hang) and recovers without a restart', async () => {
      const manager = await issue({ scopes: ['admin'] });
      const cached = await issue({});
      const uncached = await issue({});
      const cookie = await signIn(server);
      let servedOk = 1;
      // Cache the manager's and the cached key's records, and check the dashboard works.
      expect((await call(`${server.url}/api/v1/keys`, manager.key)).status).toBe(200);
      expect((await call(`${server.url}/api/v1/models`, cached.key)).status).toBe(200);
      expect((await call(`${server.url}/`, null, { cookie })).status).toBe(200);

      proxy.pause();
      try {
        const [health, keys, created, fresh, served, page] = await Promise.all([
          call(`${server.url}/healthz`, null),
          call(`${server.url}/api/v1/keys`, manager.key),
          call(`${server.url}/api/v1/keys`, manager.key, { body: { name: 'made during the partition' } }),
          call(`${server.url}/api/v1/models`, uncached.key),
          call(`${server.url}/api/v1/chat/completions`, cached.key, { body: CHAT }),
          call(`${server.url}/`, null, { cookie }),
        ]);
        servedOk += served.status === 200 ? 1 : 0;
        expect({ status: health.status, code: health.code }).toEqual({ status: 503, code: 'database_unavailable' });
        expect(health.ms).toBeLessThan(2000);

        expect({ status: keys.status, code: keys.code, retryAfter: keys.retryAfter }).toEqual({
          status: 503,
          code: 'database_unavailable',
          retryAfter: expect.stringMatching(/^[12]$/),
        });
        expect(keys.ms).toBeLessThan(QUERY_MS + CONNECT_MS + 1000);
        // A write runs in a transaction: bounded by the transaction timeout (2 x the query timeout).
        expect([created.status, created.code, created.retryAfter]).toEqual([503, 'database_unavailable', '1']);
        expect(created.ms).toBeLessThan(2 * QUERY_MS + CONNECT_MS + 1000);

        expect(fresh.status).toBe(503);
        expect(fresh.retryAfter).toMatch(/^\d+$/);
        expect(fresh.ms).toBeLessThan(QUERY_MS + CONNECT_MS + 1000);

        // A cached key needs no database: it is served during the partition (its usage waits in memory).
        expect(served.status).toBe(200);

        // The dashboard's error page, without internals.
        expect(page.status).toBe(503);
        expect(page.ms).toBeLessThan(QUERY_MS + CONNECT_MS + 1000);
        expect(page.text).toContain('The database does not answer.');
        expect(page.text).not.toMatch(/timeout|prisma|postgres/i);

        // Requests keep failing fast while the partition lasts (connections are not left hanging),
        // and usage flushes keep failing meanwhile.
        const [again, ...chats] = await Promise.all([
          call(`${server.url}/api/v1/keys`, manager.key),
          ...Array.from({ length: 10 }, () => call(`${server.url}/api/v1/chat/completions`, cached.key, { body: CHAT })),
        ]);
        expect([again.status, again.code]).toEqual([503, 'database_unavailable']);
        expect(again.ms).toBeLessThan(QUERY_MS + CONNECT_MS + 1000);
        expect(chats.map((c) => c.status)).toEqual(chats.map(() => 200));
        servedOk += chats.length;
      } finally {
        proxy.resume();
      }

      const deadline = Date.now() + 10_000;
      let answers: Answer[] = [];
      do {
        await sleep(200);
        answers = await Promise.all([
          call(`${server.url}/healthz`, null),
          call(`${server.url}/api/v1/keys`, manager.key),
          call(`${server.url}/api/v1/models`, uncached.key),
          call(`${server.url}/`, null, { cookie }),
        ]);
      } while (answers.some((a) => a.status !== 200) && Date.now() < deadline);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      expect(server.child.exitCode).toBeNull();
      expect(server.output()).not.toContain('unhandled error');

      // Usage served during the partition is written once it is over: none lost, none twice.
      expect(await server.stop()).toBe(0);
      expect(await storedUsage(db, cached.apiKey.id)).toMatchObject({ ok: servedOk, failed: 0 });
    }, 60_000);
  });
});
