/**
 * `npm run bench`: what the API-key guard costs, measured in one run on SQLite.
 *
 *   (a) a trivial JSON handler, unguarded;
 *   (b) the same handler behind apiKeyAuth with an IP allowlist, a scope, a model list, four rate
 *       windows, a budget reservation and usage accounting (buffered writes);
 *   (c) the seeds' design: a Prisma lookup and a Prisma usage write on every request;
 *   (d) (b)'s guard with 20,000 keys rotating over a database of 1,000,000 keys (cold keys: each
 *       is read from the database once, then served from the key cache);
 *   (e) (b) with what operators see, as the app wires it: the access log at info (written to
 *       /dev/null), request metrics, the guard timed, outcomes teed to metrics, reservations counted;
 *   (f) only when asked for (--only a,b,f): the floor, what any API-key guard does at the least (see
 *       floorGuard); f/a is as close to the bare route as b/a can come.
 *
 * The server runs in a child process (one core), the load generator (autocannon) here. Rounds
 * alternate a → b → c → d → e so drift on a shared machine hits all alike; the median round counts.
 * (d)'s usage names thousands of keys a second, so it is journaled and folded (USAGE_FOLD_*): the
 * fold runs when (d)'s rounds add up to USAGE_FOLD_INTERVAL_MS of load (and after the last), never
 * during another variant's round, and its time and CPU are charged to the (d) rounds it folded.
 * Before the rounds, a miss-heavy run presents each of (d)'s 20,000 keys once (every request a
 * cache miss) and the server's memory is printed before it, right after it, and once it settled:
 * before and settled are each read after the usage is written and 10 s idle with a full GC each
 * second (the reading 3 s in is printed too).
 * Prints req/s, p50/p99 latency and server RSS per variant, and the ratios b/a, b/c, d/b and e/b
 * (and f/a, b/f with (f)).
 * Options: --rounds N (default 7), --seconds S per round (default 5), --connections C (default 32),
 * --stored N keys in the database for (d) (default 1,000,000), --rotating N of them used (default 20,000),
 * --logged N request-log rows of (d)'s keys written before the rounds (default 0: see prefillRequestLog),
 * --only a,b (a subset of variants), --redis (limits in Redis, as several instances run them:
 * REDIS_URL, or a private redis-server; the ratio to report is then b/a, goal ≥ 0.70),
 * --statements (the SQLite usage writer's CPU by statement, per variant's rounds and for (d)'s
 * folds: where the writer's time goes).
 */
import { type ChildProcess, fork, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import express, { type Request } from 'express';
import pino from 'pino';
import { systemActor } from '../audit/audit-types';
import type { ResolvedConfig } from '../config';
import { DEFAULT_USAGE_FOLD, parseConfig } from '../config';
import { createContext } from '../context';
import { migrate } from '../data/migrations';
import BetterSqlite3 from 'better-sqlite3';
import { apiKeyAuth, expressServerOptions, generateKey, parseKey, socketAddress } from '@keyward/guard';
import { createLogger } from '../logger';
import { accessLog } from '../observability/access-log';
import { guardObservers } from '../observability/guard-observers';
import { GuardVerdicts } from '../observability/guard-verdicts';
import { KeywardMetrics } from '../observability/metrics';
import { requestMetrics } from '../observability/request-metrics';
import { routePatterns } from '../observability/route-pattern';
import type { StatementCpu, ThreadHeap } from '../data/sqlite-thread';
import { USAGE_WRITER } from '../data/database';
import { createRedisClient, type RedisClient, whenReady } from '../redis/redis-client';
import { startPrivateRedis } from './private-redis';

const KEY_COUNT = 100;
const VARIANTS = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
type Variant = (typeof VARIANTS)[number];
/** What runs without --only: (f) is context, asked for by name. */
const DEFAULT_VARIANTS: readonly Variant[] = ['a', 'b', 'c', 'd', 'e'];
const LABEL: Record<Variant, string> = {
  a: '(a) unguarded handler',
  b: '(b) guarded: IP + scope + model + 4 windows + budget + usage',
  c: '(c) seeds\' design: Prisma lookup + usage write per request',
  d: '(d) = (b) with 20,000 keys rotating over 1M stored',
  e: '(e) = (b) + access log + metrics, as the app wires them',
  f: '(f) floor: key from the header, Map lookup, 3 headers',
};

interface Ready {
  type: 'ready';
  port: number;
}

/**
 * Writes `stored` keys straight into the SQLite file (multi-row INSERTs in one transaction through
 * the raw driver: the ORM would take minutes). The first `rotating` are real keys with (b)'s
 * settings whose strings are returned; the rest are filler with the same settings.
 */
function seedKeys(file: string, tenantId: string, hash: (key: string) => string, stored: number, rotating: number): string[] {
  const db = new BetterSqlite3(file, { timeout: 10_000 });
  // Fourteen indexes maintained row by row make a million random-id inserts take many minutes:
  // they are dropped for the load and built again after it (triggers stay: counts and search hold).
  const indexes = db
    .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'api_keys' AND sql IS NOT NULL`)
    .all() as { name: string; sql: string }[];
  for (const index of indexes) db.exec(`DROP INDEX "${index.name}"`);
  const columns = [
    'id', 'tenantId', 'prefix', 'secretHash', 'hashVersion', 'last4', 'name', 'metadata', 'scopes', 'tier', 'rateLimitPerMinute',
    'rateLimitPerHour', 'rateLimitPerDay', 'rateLimitPerMonth', 'allowedIps', 'allowedModels', 'allowedChatbots', 'budgetLimitCents',
    'budgetPeriod', 'status', 'createdAt', 'updatedAt',
  ];
  const ROWS = 500;
  const one = `(${columns.map(() => '?').join(', ')})`;
  const insert = (n: number) => db.prepare(`INSERT INTO "api_keys" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${Array(n).fill(one).join(', ')}`);
  const full = insert(ROWS);
  const now = new Date().toISOString().replace('Z', '+00:00');
  const keys: string[] = [];
  let rows: unknown[] = [];
  let inRows = 0;
  const flush = () => {
    if (inRows === 0) return;
    (inRows === ROWS ? full : insert(inRows)).run(rows);
    rows = [];
    inRows = 0;
  };
  db.transaction(() => {
    for (let i = 0; i < stored; i++) {
      const generated = generateKey('kw');
      const real = i < rotating;
      if (real) keys.push(generated.key);
      rows.push(
        generated.id, tenantId, 'kw', real ? hash(generated.key) : i.toString(16).padStart(64, '0'), 1, generated.last4, `cold ${i}`, '{}',
        '["api"]', 'enterprise', 10_000, 100_000, 1_000_000, 30_000_000, '["127.0.0.0/8","::1"]', '["bench-model"]', '[]', 1_000_000_000,
        'monthly', 'active', now, now,
      );
      inRows += 1;
      if (inRows === ROWS) flush();
    }
    flush();
  })();
  for (const index of indexes) db.exec(index.sql);
  db.exec('ANALYZE');
  db.close();
  return keys;
}

/**
 * --logged N: about N request-log rows of (d)'s keys, spread over the last 7 days, written before
 * the rounds. The seeded database holds no log, and a log's per-key index costs each new row more
 * as it grows (an index page of its own under many keys): this runs (d) against a log of a real
 * size. Written in key order, as folds move journaled rows (data/repositories/visibility-writes.ts).
 * Returns the rows written.
 */
function prefillRequestLog(file: string, cold: readonly string[], rows: number): number {
  const perKey = Math.ceil(rows / cold.length);
  const db = new BetterSqlite3(file, { timeout: 10_000 });
  try {
    db.exec('CREATE TEMP TABLE "bench_keys" ("id" TEXT PRIMARY KEY)');
    const add = db.prepare('INSERT INTO "bench_keys" ("id") VALUES (?)');
    db.transaction(() => {
      for (const key of cold) add.run((parseKey(key) as { id: string }).id);
    })();
    const spanSeconds = 7 * 86_400;
    const from = Date.now() / 1000 - spanSeconds;
    const { changes } = db
      .prepare(
        `INSERT INTO "request_log" ("keyId", "tenantId", "at", "outcome", "status", "ip", "model", "tokens", "costMicroCents", "latencyMs", "userAgent")
         WITH RECURSIVE "n"("i") AS (SELECT 0 UNION ALL SELECT "i" + 1 FROM "n" WHERE "i" < ?)
         SELECT k."id", k."tenantId", strftime('%Y-%m-%dT%H:%M:%f+00:00', ? + n."i" * ?, 'unixepoch'), 'ok', 200, '127.0.0.1', 'bench-model', 12, 3400, 1, 'bench'
         FROM "bench_keys" b JOIN "api_keys" k ON k."id" = b."id" CROSS JOIN "n" ORDER BY k."id", n."i"`,
      )
      .run(perKey - 1, from, spanSeconds / perKey);
    db.pragma('wal_checkpoint(TRUNCATE)');
    return changes;
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- server (child process)

/** What the bench database holds: (b)'s keys and (d)'s rotating keys (the database's own secrets are fixed). */
interface Seeded {
  keys: string[];
  cold: string[];
}

const HASH_SECRET = 'b'.repeat(48);

/**
 * The bench database: migrated, a tenant with (b)'s keys (through the key service) and `stored`
 * keys for (d) (raw inserts). Seeding a million keys into a table with this many indexes takes
 * minutes on a shared machine, so the seeded file is kept in bench-data/ (with the key strings
 * beside it) and copied for later runs with the same sizes.
 */
async function benchDatabase(sqlitePath: string, stored: number, rotating: number): Promise<Seeded & { seedSeconds: number; reused: boolean }> {
  const cacheFile = path.resolve('bench-data', `api-bench-${stored}-${rotating}.db`);
  const cacheKeys = `${cacheFile}.keys.json`;
  const started = Date.now();
  if (fs.existsSync(cacheFile) && fs.existsSync(cacheKeys)) {
    fs.copyFileSync(cacheFile, sqlitePath);
    return { ...(JSON.parse(fs.readFileSync(cacheKeys, 'utf8')) as Seeded), seedSeconds: (Date.now() - started) / 1000, reused: true };
  }
  const base = parseConfig({ DATABASE_URL: `file:${sqlitePath}`, LOG_LEVEL: 'silent' });
  const config: ResolvedConfig = { ...base, keyHashSecret: HASH_SECRET, sessionSecret: 's'.repeat(48), secretsFile: null };
  await migrate(config.database);
  const ctx = createContext(config, { logger: createLogger('silent'), keyChangeFeed: false, alertWorkers: false });
  const actor = systemActor('bench');
  const tenant = await ctx.tenants.create({ name: 'Bench', slug: 'bench' }, actor);
  const keys: string[] = [];
  for (let i = 0; i < KEY_COUNT; i++) {
    const { key } = await ctx.keys.create(
      tenant.id,
      {
        name: `bench ${i}`,
        scopes: ['api'],
        tier: 'enterprise',
        rateLimits: { perMinute: 10_000, perHour: 100_000, perDay: 1_000_000, perMonth: 30_000_000 },
        allowedIps: ['127.0.0.0/8', '::1'],
        allowedModels: ['bench-model'],
        budget: { limitCents: 1_000_000_000, period: 'monthly' },
      },
      actor,
    );
    keys.push(key);
  }
  const hasher = ctx.hasher;
  await ctx.close();
  const cold = seedKeys(sqlitePath, tenant.id, (key) => hasher.hash(key), stored, rotating);
  // One file to copy: the WAL folded into it.
  const db = new BetterSqlite3(sqlitePath);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.copyFileSync(sqlitePath, cacheFile);
  fs.writeFileSync(cacheKeys, JSON.stringify({ keys, cold } satisfies Seeded));
  return { keys, cold, seedSeconds: (Date.now() - started) / 1000, reused: false };
}

/** The app's fold settings; the bench server folds when told (see FOLD_EVERY_MS). */
const FOLD = parseConfig({ USAGE_FOLD_INTERVAL_MS: process.env.USAGE_FOLD_INTERVAL_MS, USAGE_FOLD_MIN_KEYS: process.env.USAGE_FOLD_MIN_KEYS }).api.usageFold ?? DEFAULT_USAGE_FOLD;
/** (d)'s load between two folds: the app's interval, as under steady load. */
const FOLD_EVERY_MS = FOLD.intervalMs;

/**
 * (f): the least any API-key guard does, and no more: the key read from the Authorization header,
 * looked up in a Map, its request counted (with Redis, one INCR per request on a connection made
 * as the app makes the guard's: auto-pipelined, with its command timeout), three rate-limit headers. No hash, allowlist, scope, model, window,
 * budget or usage: it is not a guard, it is how much of the bare route's speed a lookup alone
 * leaves, the ceiling b/a is measured against.
 */
function floorGuard(redis: RedisClient | null): express.RequestHandler {
  const counts = new Map<string, { id: string; count: number }>();
  const noUsage = { reportUsage: () => undefined };
  return (req, res, next) => {
    const header = req.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice(7) : '';
    let entry = counts.get(presented);
    if (!entry) {
      const parsed = parseKey(presented);
      if (!parsed) {
        res.status(401).json({ error: { code: 'invalid_api_key' } });
        return;
      }
      counts.set(presented, (entry = { id: parsed.id, count: 0 }));
    }
    const answer = (count: number) => {
      res.setHeader('x-ratelimit-limit-requests', '10000');
      res.setHeader('x-ratelimit-remaining-requests', String(Math.max(0, 10_000 - (count % 10_000))));
      res.setHeader('x-ratelimit-reset-requests', '60s');
      (req as { apiKey?: unknown }).apiKey = noUsage;
      next();
    };
    if (!redis) answer((entry.count += 1));
    else redis.incr(`kw:bench:floor:${entry.id}`).then(answer, next);
  };
}

async function serve(redisUrl: string | undefined, sqlitePath: string, statementCpu: boolean): Promise<void> {
  const dir = path.dirname(sqlitePath);
  const base = parseConfig({ DATABASE_URL: `file:${sqlitePath}`, LOG_LEVEL: 'silent', ...(redisUrl ? { REDIS_URL: redisUrl } : {}) });
  // The fold timer never fires: a fold runs when the load generator says (charged to (d)).
  const api = { ...base.api, usageFold: { ...FOLD, intervalMs: 24 * 3_600_000 } };
  const config: ResolvedConfig = { ...base, api, keyHashSecret: HASH_SECRET, sessionSecret: 's'.repeat(48), secretsFile: null };
  await migrate(config.database);
  const ctx = createContext(config, { logger: createLogger('silent'), statementCpu });
  // (f)'s connection, made as the app makes the guard's (src/redis/redis-client.ts).
  const floorRedis = config.redis ? createRedisClient({ url: config.redis.url, commandTimeoutMs: config.redis.commandTimeoutMs }, createLogger('silent'), 'bench-floor') : null;
  await Promise.all([ctx.ready(), floorRedis ? whenReady(floorRedis, 5000) : undefined]);

  const app = express();
  // As src/app.ts: no ETag (a hash of every response body; /api answers are never revalidated).
  app.set('etag', false);
  app.use(express.json());
  const handler = (req: Request, res: express.Response) => {
    req.apiKey?.reportUsage({ tokens: 10, costMicroCents: 5 });
    res.json({ ok: true, model: (req.body as { model?: string }).model ?? null });
  };
  app.post('/a', handler);
  const guard = apiKeyAuth({
    keys: ctx.keyStore,
    hasher: ctx.hasher,
    limits: ctx.limits,
    usage: ctx.usage,
    scopes: ['api'],
    maxCost: () => 10,
    clientIp: socketAddress, // as the app wires it without TRUST_PROXY
  });
  app.post('/b', guard, handler);
  // (d): the same guard; the load generator rotates over the cold keys.
  app.post('/d', guard, handler);
  // (e): the same guard with the app's observers (src/app.ts, src/routes/api.ts), on a router of its
  // own mounted after /a, /b and /c so they never pass through them.
  const metrics = new KeywardMetrics();
  metrics.watch({ usage: ctx.usage, keyCache: ctx.keyStore, health: ctx.health, breaker: null });
  const verdicts = new GuardVerdicts();
  const observe = guardObservers({ metrics, verdicts });
  const accessLogger = createLogger('info', { destination: pino.destination({ dest: '/dev/null', sync: false }) });
  const observed = express.Router();
  observed.use(routePatterns(), accessLog({ logger: accessLogger, verdicts }), requestMetrics(metrics));
  observed.post(
    '/e',
    observe.timed(
      'api',
      apiKeyAuth({
        keys: ctx.keyStore,
        hasher: ctx.hasher,
        limits: observe.limits(ctx.limits),
        usage: observe.recorder('api', ctx.usage),
        scopes: ['api'],
        maxCost: () => 10,
        clientIp: socketAddress,
      }),
    ),
    handler,
  );
  app.post('/c', async (req, res) => {
    const presented = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const parsed = parseKey(presented);
    const row = parsed ? await ctx.database.prisma.apiKey.findUnique({ where: { id: parsed.id } }) : null;
    const hash = Buffer.from(ctx.hasher.hash(presented), 'hex');
    if (!row || !timingSafeEqual(hash, Buffer.from(row.secretHash, 'hex')) || row.status !== 'active') {
      res.status(401).json({ error: { code: 'invalid_api_key' } });
      return;
    }
    await ctx.database.prisma.apiKey.update({
      where: { id: row.id },
      data: { requestsOk: { increment: 1 }, tokens: { increment: 10 }, spendMicroCents: { increment: 5 }, lastUsedAt: new Date() },
    });
    res.json({ ok: true, model: (req.body as { model?: string }).model ?? null });
  });

  app.post('/f', floorGuard(floorRedis), handler);
  app.use(observed);

  // Served as src/server.ts serves the app: requests built with the app's prototypes (see expressServerOptions).
  const server = http.createServer(expressServerOptions(app), app);
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    process.send?.({ type: 'ready', port } satisfies Ready);
  });
  // The main thread's GC pauses, from the runtime's own gc entries (the worker threads' are theirs):
  // where a variant's CPU goes that no CPU profile attributes to the code that caused it.
  let gcMicros = 0;
  const addGc = (entries: PerformanceEntry[]) => {
    for (const entry of entries) gcMicros += entry.duration * 1000;
  };
  const gcObserver = new PerformanceObserver((list) => addGc(list.getEntries()));
  gcObserver.observe({ entryTypes: ['gc'] });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'rss') process.send?.({ type: 'rss', rss: process.memoryUsage().rss, heapTotal: process.memoryUsage().heapTotal });
    if (message.type === 'fold') {
      const started = performance.now();
      const folding = ctx.usage.foldingRequests();
      ctx.usage.flush().then(() => process.send?.({ type: 'fold', ms: performance.now() - started, folding }));
    }
    if (message.type === 'statements') {
      void ctx.database.writerStatementCpu().then((statements) => process.send?.({ type: 'statements', statements }));
    }
    if (message.type === 'folding') {
      // The round's last interval appended (or written) first, so it is counted with its round.
      void ctx.usage.appendNow().then(() => process.send?.({ type: 'folding', folding: ctx.usage.foldingRequests() }));
    }
    if (message.type === 'settled') {
      // Memory once the burst is over: its usage written (folded, as the app's timer does within
      // USAGE_FOLD_INTERVAL_MS), then idle with a full GC every second: read after 3 s (one GC in
      // the idle time before this reading) and after 10 s. V8 gives back the heap a large write
      // grew over several GCs, so a single GC right after one says more about V8 than about what
      // the app keeps.
      const gc = (globalThis as { gc?: () => void }).gc;
      void ctx.usage.flush().then(async () => {
        let early = 0;
        for (let second = 1; second <= 10; second++) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          if (second >= 3) gc?.();
          if (second === 3) early = process.memoryUsage().rss;
        }
        const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
        // The worker threads' heaps are their own (process.memoryUsage() leaves them out).
        const threads = await ctx.database.threadHeaps();
        process.send?.({ type: 'settled', early, rss, heapUsed, heapTotal, external, arrayBuffers, cached: ctx.keyStore.stats().size, threads });
      });
    }
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      // Entries not delivered to the observer yet are counted now, with the CPU time they belong to.
      addGc(gcObserver.takeRecords());
      // Where a thread's time cannot be read (not Linux), null; a writer not started yet has run none.
      const writerMicros = process.platform === 'linux' ? (ctx.database.threadCpu()[USAGE_WRITER] ?? 0) : null;
      process.send?.({ type: 'cpu', micros: user + system, gcMicros, writerMicros } satisfies CpuReading & { type: 'cpu' });
    }
    if (message.type === 'stop') {
      server.close();
      floorRedis?.disconnect();
      ctx.close().finally(() => {
        fs.rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
}

// ---------------------------------------------------------------- load generator (parent)

/** Redis for `--redis`: REDIS_URL when set, else a private redis-server on a free port. */
async function benchRedis(): Promise<{ url: string; stop(): void }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: () => undefined };
  return startPrivateRedis().catch(() => {
    throw new Error('--redis needs REDIS_URL or redis-server on the PATH');
  });
}

/**
 * The server gets CPU 0 and this load generator CPU 1 when taskset exists and there are two CPUs
 * or more, so the two do not steal time from each other mid-round.
 */
function startServer(redisUrl: string | undefined, sqlitePath: string, statements: boolean): ChildProcess {
  const pinned = os.cpus().length >= 2 && spawnSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' }).status === 0;
  const stdio: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'];
  const args = ['--serve', `--db=${sqlitePath}`, ...(redisUrl ? [`--redis-url=${redisUrl}`] : []), ...(statements ? ['--statements'] : [])];
  // --expose-gc: the settled memory figure is taken after a full GC.
  const nodeFlags = ['--expose-gc', ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : [])];
  const child = pinned
    ? spawn('taskset', ['-c', '0', process.execPath, ...nodeFlags, __filename, ...args], { stdio })
    : fork(__filename, args, { stdio, execArgv: nodeFlags });
  console.log(pinned ? 'CPU pinning: server on CPU 0, load generator on CPU 1' : 'CPU pinning: not available');
  return child;
}

interface Round {
  rps: number;
  p50: number;
  p99: number;
  rss: number;
  errors: number;
  /** Server CPU time per request (µs), independent of how the load generator fared. */
  cpuPerRequest: number;
  /** Of that, the main thread's garbage-collection pauses (µs per request). */
  gcPerRequest: number;
  /** Of that, the SQLite usage writer thread's CPU time (µs per request); null where it cannot be read. */
  writerPerRequest: number | null;
}

/** The server's CPU time and its main thread's GC pauses so far (µs). */
interface CpuReading {
  micros: number;
  gcMicros: number;
  /** The SQLite usage writer thread's CPU time (µs), null where it cannot be read. */
  writerMicros: number | null;
}

function ask<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const listener = (message: { type: string } & T) => {
      if (message.type === type) {
        child.off('message', listener);
        resolve(message);
      }
    };
    child.on('message', listener);
    child.send({ type });
  });
}

async function load(
  port: number,
  variant: Variant,
  keys: string[],
  seconds: number,
  connections: number,
  amount?: number,
): Promise<Omit<Round, 'rss' | 'cpuPerRequest' | 'gcPerRequest' | 'writerPerRequest'> & { total: number }> {
  let next = 0;
  // A run of `amount` requests ends at autocannon's next one-second tick after its last answer:
  // its rate is taken from its last answer instead (20,000 requests over 10.1 or 10.9 s both
  // printed 2,000 req/s, one more tick made it 1,818).
  const started = performance.now();
  let lastAnswer = started;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/${variant}`,
    method: 'POST',
    connections,
    ...(amount ? { amount } : { duration: seconds }),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'hi' }] }),
    requests: [
      {
        setupRequest: (request) => {
          const key = keys[next++ % keys.length];
          return { ...request, headers: { ...request.headers, authorization: `Bearer ${key}` } };
        },
        ...(amount ? { onResponse: () => void (lastAnswer = performance.now()) } : {}),
      },
    ],
  });
  return {
    rps: amount ? result.requests.total / ((lastAnswer - started) / 1000) : result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    total: result.requests.total,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'boolean' },
      redis: { type: 'boolean' },
      'redis-url': { type: 'string' },
      rounds: { type: 'string', default: '7' },
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '32' },
      only: { type: 'string' },
      stored: { type: 'string', default: '1000000' },
      rotating: { type: 'string', default: '20000' },
      logged: { type: 'string', default: '0' },
      statements: { type: 'boolean' },
      db: { type: 'string' },
    },
  });
  const stored = Number(values.stored);
  const rotating = Math.min(Number(values.rotating), stored);
  const variants = (values.only ? values.only.split(',') : [...DEFAULT_VARIANTS]) as Variant[];
  const unknown = variants.filter((v) => !VARIANTS.includes(v));
  if (unknown.length > 0) throw new Error(`--only: no variant ${unknown.join(', ')} (there are ${VARIANTS.join(', ')})`);
  if (values.serve) {
    const file = values.db as string;
    return serve(values['redis-url'], file, values.statements === true);
  }
  const redis = values.redis ? await benchRedis() : null;

  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  // The database is prepared here, before the server starts (and before CPUs are pinned).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-bench-'));
  const sqlitePath = path.join(dir, 'bench.db');
  const seeded = await benchDatabase(sqlitePath, stored, rotating);
  const logStarted = Date.now();
  const logged = Number(values.logged) > 0 && variants.includes('d') ? prefillRequestLog(sqlitePath, seeded.cold, Number(values.logged)) : 0;
  const logSeconds = (Date.now() - logStarted) / 1000;
  const child = startServer(redis?.url, sqlitePath, values.statements === true);
  const ready = await new Promise<Ready>((resolve) => child.once('message', (m: Ready) => resolve(m)));
  const keysFor = (variant: Variant) => (variant === 'd' ? seeded.cold : seeded.keys);
  console.log(`keyward bench: SQLite${redis ? ` + Redis (${redis.url})` : ''}, ${KEY_COUNT} keys for (b), (d) ${rotating.toLocaleString('en-US')} of ${stored.toLocaleString('en-US')} stored keys (${seeded.reused ? 'copied from bench-data/ in' : 'seeded in'} ${seeded.seedSeconds.toFixed(1)} s)${logged > 0 ? `, a request log of ${logged.toLocaleString('en-US')} rows of (d)'s keys (written in ${logSeconds.toFixed(1)} s)` : ''}, ${rounds} rounds × ${seconds} s per variant, ${connections} connections, node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? 'unknown CPU'}`);

  // Warm-up: JIT and the limiters, untimed (twice: the first pass is far from steady); (d)'s keys stay cold.
  for (let pass = 0; pass < 2; pass++) {
    for (const variant of variants) if (variant !== 'd') await load(ready.port, variant, keysFor(variant), 3, connections);
  }

  // The miss-heavy run: every one of (d)'s keys once, each a cache miss (database read, HMAC, state).
  let memory: {
    start: number;
    after: number;
    early: number;
    settled: number;
    heap: number;
    heapTotalStart: number;
    heapTotal: number;
    external: number;
    cached: number;
    /** The SQLite worker threads' heaps, by thread, before and settled. */
    threadsStart: Record<string, ThreadHeap>;
    threads: Record<string, ThreadHeap>;
  } | null = null;
  if (variants.includes('d')) {
    // The start is read as the settled figure is (idle, a GC each second), so the two compare alike.
    const before = await ask<{ rss: number; heapTotal: number; threads: Record<string, ThreadHeap> }>(child, 'settled');
    const start = before.rss;
    const miss = await load(ready.port, 'd', seeded.cold, 0, connections, seeded.cold.length);
    const after = (await ask<{ rss: number }>(child, 'rss')).rss;
    const settled = await ask<{
      early: number;
      rss: number;
      heapUsed: number;
      heapTotal: number;
      external: number;
      arrayBuffers: number;
      cached: number;
      threads: Record<string, ThreadHeap>;
    }>(child, 'settled');
    memory = {
      start,
      after,
      early: settled.early,
      settled: settled.rss,
      heap: settled.heapUsed,
      heapTotalStart: before.heapTotal,
      heapTotal: settled.heapTotal,
      external: settled.external,
      cached: settled.cached,
      threadsStart: before.threads,
      threads: settled.threads,
    };
    console.log(`  miss-heavy run: ${seeded.cold.length.toLocaleString('en-US')} cold keys once each, ${miss.rps.toFixed(0)} req/s, ${miss.errors} non-2xx`);
    // One more pass untimed, as the other variants had.
    await load(ready.port, 'd', seeded.cold, 3, connections);
    await ask(child, 'fold');
  }

  const results: Record<Variant, Round[]> = { a: [], b: [], c: [], d: [], e: [], f: [] };
  // --statements: the writer's CPU by statement, for each variant's rounds and for (d)'s folds
  // (what ran before the rounds, the miss-heavy run among it, is left out).
  const statements = values.statements ? new WriterStatements() : null;
  if (statements) await ask(child, 'statements');
  /** (d)'s rounds not folded yet, with what each measured (a fold's cost is added to them). */
  let unfolded: { round: Round; seconds: number; requests: number; cpu: CpuReading }[] = [];
  /** Requests journaled and not folded after (d)'s last round. */
  let journaled = 0;
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const before = await ask<CpuReading>(child, 'cpu');
      const measured = await load(ready.port, variant, keysFor(variant), seconds, connections);
      const used = spent(before, await ask<CpuReading>(child, 'cpu'));
      const { rss } = await ask<{ rss: number }>(child, 'rss');
      const cpuPerRequest = used.micros / measured.total;
      const gcPerRequest = used.gcMicros / measured.total;
      const writerPerRequest = used.writerMicros === null ? null : used.writerMicros / measured.total;
      const result = { ...measured, rss, cpuPerRequest, gcPerRequest, writerPerRequest };
      results[variant].push(result);
      console.log(
        `  round ${round} ${variant}: ${measured.rps.toFixed(0)} req/s, p50 ${measured.p50} ms, p99 ${measured.p99} ms, server CPU ${cpuPerRequest.toFixed(0)} µs/req (GC ${gcPerRequest.toFixed(0)}${writerPerRequest === null ? '' : `, writer ${writerPerRequest.toFixed(0)}`})`,
      );
      const { folding } = await ask<{ folding: number }>(child, 'folding');
      // After the round's last interval was written or appended (as its folding count).
      if (statements) statements.add(`(${variant})'s rounds`, measured.total, await ask<{ statements: StatementCpu[] }>(child, 'statements'));
      if (variant !== 'd') {
        // Only (d) names enough keys a second to be journaled: anything else would be misattributed.
        if (folding > journaled) console.log(`  warning: ${folding - journaled} requests of (${variant}) wait to be folded`);
        continue;
      }
      journaled = folding;
      unfolded.push({ round: result, seconds: measured.total / measured.rps, requests: measured.total, cpu: used });
      if (unfolded.length < Math.ceil(FOLD_EVERY_MS / (seconds * 1000)) && round < rounds) continue;
      // The fold of these rounds' usage, its time and CPU shared among them by their requests.
      const cpuBefore = await ask<CpuReading>(child, 'cpu');
      const fold = await ask<{ ms: number; folding: number }>(child, 'fold');
      const foldCpu = spent(cpuBefore, await ask<CpuReading>(child, 'cpu'));
      if (statements) statements.add("(d)'s folds", fold.folding, await ask<{ statements: StatementCpu[] }>(child, 'statements'));
      const requests = unfolded.reduce((sum, u) => sum + u.requests, 0);
      for (const u of unfolded) {
        const share = u.requests / requests;
        u.round.rps = u.requests / (u.seconds + (share * fold.ms) / 1000);
        u.round.cpuPerRequest = (u.cpu.micros + share * foldCpu.micros) / u.requests;
        u.round.gcPerRequest = (u.cpu.gcMicros + share * foldCpu.gcMicros) / u.requests;
        if (u.cpu.writerMicros !== null && foldCpu.writerMicros !== null) u.round.writerPerRequest = (u.cpu.writerMicros + share * foldCpu.writerMicros) / u.requests;
      }
      console.log(
        `  fold of (d)'s last ${unfolded.length} rounds (${fold.folding.toLocaleString('en-US')} requests): ${fold.ms.toFixed(0)} ms, ` +
          `CPU ${(foldCpu.micros / 1000).toFixed(0)} ms (GC ${(foldCpu.gcMicros / 1000).toFixed(0)} ms${foldCpu.writerMicros === null ? '' : `, writer ${(foldCpu.writerMicros / 1000).toFixed(0)} ms`}), charged to them: req/s ${unfolded.map((u) => u.round.rps.toFixed(0)).join(', ')}`,
      );
      unfolded = [];
      journaled = 0;
    }
  }
  child.send({ type: 'stop' });
  await new Promise((resolve) => child.once('exit', resolve));
  redis?.stop();

  const summary = Object.fromEntries(
    variants.map((v) => [
      v,
      {
        rps: median(results[v].map((r) => r.rps)),
        p50: median(results[v].map((r) => r.p50)),
        p99: median(results[v].map((r) => r.p99)),
        rss: Math.max(...results[v].map((r) => r.rss)),
        errors: results[v].reduce((sum, r) => sum + r.errors, 0),
        cpuPerRequest: median(results[v].map((r) => r.cpuPerRequest)),
        gcPerRequest: median(results[v].map((r) => r.gcPerRequest)),
        writerPerRequest: results[v].some((r) => r.writerPerRequest === null) ? null : median(results[v].map((r) => r.writerPerRequest as number)),
      },
    ]),
  ) as Record<Variant, Round>;

  console.log('\nvariant                                                      req/s    p50 ms  p99 ms  RSS MB  CPU µs/req  GC µs/req  writer µs/req  non-2xx');
  for (const v of variants) {
    const s = summary[v];
    const writer = s.writerPerRequest === null ? '-' : s.writerPerRequest.toFixed(0);
    console.log(
      `${LABEL[v].padEnd(60)} ${s.rps.toFixed(0).padStart(6)}  ${String(s.p50).padStart(6)}  ${String(s.p99).padStart(6)}  ${(s.rss / 2 ** 20).toFixed(0).padStart(6)}  ${s.cpuPerRequest.toFixed(0).padStart(10)}  ${s.gcPerRequest.toFixed(0).padStart(9)}  ${writer.padStart(13)}  ${String(s.errors).padStart(7)}`,
    );
  }
  // Ratios are taken within each round (the variants ran back to back), then the median.
  const ratios = (x: Variant, y: Variant) => results[x].map((r, i) => r.rps / results[y][i].rps);
  const spread = (values: number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;
  const goals: [Variant, Variant, string][] = [
    ['b', 'a', `goal ≥ ${redis ? '0.70 with Redis' : '0.90'}`],
    ['b', 'c', 'goal ≥ 5'],
    ['d', 'b', `goal ≥ 0.80: ${rotating.toLocaleString('en-US')} keys rotating over ${stored.toLocaleString('en-US')}`],
    ['e', 'b', 'the access log and metrics on top of the guard'],
    ['f', 'a', 'the floor: a lookup and three headers, no guard; b/a cannot pass it'],
    ['b', 'f', 'the guard against the floor'],
  ];
  console.log('');
  for (const [x, y, goal] of goals) {
    if (summary[x] && summary[y]) console.log(`${x}/${y} = ${median(ratios(x, y)).toFixed(2)} (${goal}; rounds ${spread(ratios(x, y))})`);
  }
  if (memory) {
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
    console.log(
      `memory (server RSS): ${mb(memory.start)} before the miss-heavy run, ${mb(memory.after)} right after it, ` +
        `${mb(memory.early)} 3 s after its usage was written (${(memory.early / memory.start).toFixed(2)}), ${mb(memory.settled)} settled (10 s, a GC each second) ` +
        `(JS heap ${mb(memory.heap)} used of ${mb(memory.heapTotal)} committed, ${mb(memory.heapTotalStart)} committed at the start; external ${mb(memory.external)}; ` +
        `${memory.cached.toLocaleString('en-US')} keys cached${threadHeaps(memory.threadsStart, memory.threads)}): settled/start = ${(memory.settled / memory.start).toFixed(2)} (goal ≤ 1.5)`,
    );
  }
  statements?.print();
}

/**
 * `--statements`: the SQLite usage writer thread's CPU time by statement (SqliteThread's
 * statementCpu), added up for each variant's rounds and for (d)'s folds, and printed per request
 * (of those rounds, or of the requests the folds applied) and per row bound.
 */
class WriterStatements {
  private readonly groups = new Map<string, { requests: number; byStatement: Map<string, { cpuMicros: number; runs: number; rows: number }> }>();

  add(group: string, requests: number, { statements }: { statements: StatementCpu[] }): void {
    let entry = this.groups.get(group);
    if (!entry) this.groups.set(group, (entry = { requests: 0, byStatement: new Map() }));
    entry.requests += requests;
    for (const s of statements) {
      const label = statementLabel(s.sql);
      const spent = entry.byStatement.get(label) ?? { cpuMicros: 0, runs: 0, rows: 0 };
      spent.cpuMicros += s.cpuMicros;
      spent.runs += s.runs;
      spent.rows += s.rows;
      entry.byStatement.set(label, spent);
    }
  }

  print(): void {
    console.log('\nusage writer CPU by statement (µs per request; µs per row bound, or per run for a statement run once a transaction; share of the writer):');
    for (const [group, { requests, byStatement }] of this.groups) {
      const rows = [...byStatement].sort((a, b) => b[1].cpuMicros - a[1].cpuMicros);
      const total = rows.reduce((sum, [, s]) => sum + s.cpuMicros, 0);
      console.log(`  ${group}: ${requests.toLocaleString('en-US')} requests, writer ${(total / requests).toFixed(1)} µs/req`);
      for (const [label, s] of rows.slice(0, STATEMENTS_SHOWN)) {
        const per = s.rows > 0 ? `${(s.cpuMicros / s.rows).toFixed(1)} a row` : `${(s.cpuMicros / s.runs).toFixed(0)} a run`;
        console.log(`    ${(s.cpuMicros / requests).toFixed(2).padStart(7)}  ${per.padStart(13)}  ${((100 * s.cpuMicros) / total).toFixed(0).padStart(3)} %  ${label}`);
      }
    }
  }
}

/** Statements printed per group (the largest). */
const STATEMENTS_SHOWN = 10;

/** A statement's SQL on one line, its lists of placeholders and of rows of placeholders shortened, cut at 100 characters. */
function statementLabel(sql: string): string {
  const line = sql
    .replace(/\s+/g, ' ')
    .replace(/\((?:\?\d*,\s?)+\?\d*\)/g, '(?…)')
    .replace(/(?:\(\?…\),\s?)+\(\?…\)/g, '(?…)…');
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}

/** What the server spent between two readings. */
function spent(before: CpuReading, after: CpuReading): CpuReading {
  const writerMicros = before.writerMicros === null || after.writerMicros === null ? null : after.writerMicros - before.writerMicros;
  return { micros: after.micros - before.micros, gcMicros: after.gcMicros - before.gcMicros, writerMicros };
}

/** `; usage writer heap 8 → 4 MB committed, ...`: each worker thread's heap at the start and settled. */
function threadHeaps(start: Record<string, ThreadHeap>, settled: Record<string, ThreadHeap>): string {
  const mb = (bytes: number | undefined) => (bytes === undefined ? '?' : (bytes / 2 ** 20).toFixed(0));
  return Object.entries(settled)
    .map(([name, heap]) => `; ${name} heap ${mb(start[name]?.totalBytes)} → ${mb(heap.totalBytes)} MB committed`)
    .join('');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
