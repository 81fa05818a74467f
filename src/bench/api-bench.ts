/**
 * `npm run bench`: what the API-key guard costs, measured in one run on SQLite.
 *
 *   (a) a trivial JSON handler, unguarded;
 *   (b) the same handler behind apiKeyAuth with an IP allowlist, a scope, a model list, four rate
 *       windows, a budget reservation and usage accounting (buffered writes);
 *   (c) the seeds' design: a Prisma lookup and a Prisma usage write on every request;
 *   (d) (b) with what operators see, as the app wires it: the access log at info (written to
 *       /dev/null), request metrics, the guard timed, outcomes teed to metrics, reservations counted.
 *
 * The server runs in a child process (one core), the load generator (autocannon) here. Rounds
 * alternate a → b → c so drift on a shared machine hits all three alike; the median round counts.
 * Prints req/s, p50/p99 latency and server RSS per variant, and the ratios b/a, b/c and d/b.
 * Options: --rounds N (default 7), --seconds S per round (default 5), --connections C (default 32),
 * --only a,b (a subset of variants), --redis (limits in Redis, as several instances run them:
 * REDIS_URL, or a private redis-server; the ratio to report is then b/a, goal ≥ 0.70).
 */
import { type ChildProcess, fork, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import express, { type Request } from 'express';
import pino from 'pino';
import { systemActor } from '../audit/audit-types';
import type { ResolvedConfig } from '../config';
import { parseConfig } from '../config';
import { createContext } from '../context';
import { migrate } from '../data/migrations';
import { apiKeyAuth, parseKey, socketAddress } from '@keyward/guard';
import { createLogger } from '../logger';
import { accessLog } from '../observability/access-log';
import { guardObservers } from '../observability/guard-observers';
import { GuardVerdicts } from '../observability/guard-verdicts';
import { KeywardMetrics } from '../observability/metrics';
import { requestMetrics } from '../observability/request-metrics';
import { routePatterns } from '../observability/route-pattern';

const KEY_COUNT = 100;
const VARIANTS = ['a', 'b', 'c', 'd'] as const;
type Variant = (typeof VARIANTS)[number];
const LABEL: Record<Variant, string> = {
  a: '(a) unguarded handler',
  b: '(b) guarded: IP + scope + model + 4 windows + budget + usage',
  c: '(c) seeds\' design: Prisma lookup + usage write per request',
  d: '(d) = (b) + access log + metrics, as the app wires them',
};

interface Ready {
  type: 'ready';
  port: number;
  keys: string[];
}

// ---------------------------------------------------------------- server (child process)

async function serve(redisUrl: string | undefined): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-bench-'));
  const sqlitePath = path.join(dir, 'bench.db');
  const base = parseConfig({ DATABASE_URL: `file:${sqlitePath}`, LOG_LEVEL: 'silent', ...(redisUrl ? { REDIS_URL: redisUrl } : {}) });
  const config: ResolvedConfig = { ...base, keyHashSecret: 'b'.repeat(48), sessionSecret: 's'.repeat(48), secretsFile: null };
  await migrate(config.database);
  const ctx = createContext(config, { logger: createLogger('silent') });
  await ctx.ready();
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

  const app = express();
  app.use(express.json());
  const handler = (req: Request, res: express.Response) => {
    req.apiKey?.reportUsage({ tokens: 10, costMicroCents: 5 });
    res.json({ ok: true, model: (req.body as { model?: string }).model ?? null });
  };
  app.post('/a', handler);
  app.post(
    '/b',
    apiKeyAuth({
      keys: ctx.keyStore,
      hasher: ctx.hasher,
      limits: ctx.limits,
      usage: ctx.usage,
      scopes: ['api'],
      maxCost: () => 10,
      clientIp: socketAddress, // as the app wires it without TRUST_PROXY
    }),
    handler,
  );
  // (d): the same guard with the app's observers (src/app.ts, src/routes/api.ts), on a router of its
  // own mounted after /a, /b and /c so they never pass through them.
  const metrics = new KeywardMetrics();
  metrics.watch({ usage: ctx.usage, keyCache: ctx.keyStore, health: ctx.health, breaker: null });
  const verdicts = new GuardVerdicts();
  const observe = guardObservers({ metrics, verdicts });
  const accessLogger = createLogger('info', { destination: pino.destination({ dest: '/dev/null', sync: false }) });
  const observed = express.Router();
  observed.use(routePatterns(), accessLog({ logger: accessLogger, verdicts }), requestMetrics(metrics));
  observed.post(
    '/d',
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

  app.use(observed);

  const server = app.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    process.send?.({ type: 'ready', port, keys } satisfies Ready);
  });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'rss') process.send?.({ type: 'rss', rss: process.memoryUsage().rss });
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ type: 'cpu', micros: user + system });
    }
    if (message.type === 'stop') {
      server.close();
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
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    server.once('error', () => reject(new Error('--redis needs REDIS_URL or redis-server on the PATH')));
    const poll = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => setTimeout(poll, 50));
    };
    poll();
  });
  return { url: `redis://127.0.0.1:${port}`, stop: () => server.kill() };
}

/**
 * The server gets CPU 0 and this load generator CPU 1 when taskset exists and there are two CPUs
 * or more, so the two do not steal time from each other mid-round.
 */
function startServer(redisUrl: string | undefined): ChildProcess {
  const pinned = os.cpus().length >= 2 && spawnSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' }).status === 0;
  const stdio: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'];
  const args = ['--serve', ...(redisUrl ? [`--redis-url=${redisUrl}`] : [])];
  const nodeFlags = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : [];
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
): Promise<Omit<Round, 'rss' | 'cpuPerRequest'> & { total: number }> {
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/${variant}`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'hi' }] }),
    requests: [
      {
        setupRequest: (request) => {
          const key = keys[next++ % keys.length];
          return { ...request, headers: { ...request.headers, authorization: `Bearer ${key}` } };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
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
    },
  });
  const variants = (values.only ? values.only.split(',') : [...VARIANTS]) as Variant[];
  if (values.serve) return serve(values['redis-url']);
  const redis = values.redis ? await benchRedis() : null;

  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const child = startServer(redis?.url);
  const ready = await new Promise<Ready>((resolve) => child.once('message', (m: Ready) => resolve(m)));
  console.log(`keyward bench: SQLite${redis ? ` + Redis (${redis.url})` : ''}, ${KEY_COUNT} keys, ${rounds} rounds × ${seconds} s per variant, ${connections} connections, node ${process.version}, ${os.cpus().length} CPUs`);

  // Warm-up: JIT, the key cache and the limiters, untimed (twice: the first pass is far from steady).
  for (let pass = 0; pass < 2; pass++) {
    for (const variant of variants) await load(ready.port, variant, ready.keys, 3, connections);
  }

  const results: Record<Variant, Round[]> = { a: [], b: [], c: [], d: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const before = await ask<{ micros: number }>(child, 'cpu');
      const measured = await load(ready.port, variant, ready.keys, seconds, connections);
      const after = await ask<{ micros: number }>(child, 'cpu');
      const { rss } = await ask<{ rss: number }>(child, 'rss');
      const cpuPerRequest = (after.micros - before.micros) / measured.total;
      results[variant].push({ ...measured, rss, cpuPerRequest });
      console.log(
        `  round ${round} ${variant}: ${measured.rps.toFixed(0)} req/s, p50 ${measured.p50} ms, p99 ${measured.p99} ms, server CPU ${cpuPerRequest.toFixed(0)} µs/req`,
      );
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
      },
    ]),
  ) as Record<Variant, Round>;

  console.log('\nvariant                                                      req/s    p50 ms  p99 ms  RSS MB  CPU µs/req  non-2xx');
  for (const v of variants) {
    const s = summary[v];
    console.log(
      `${LABEL[v].padEnd(60)} ${s.rps.toFixed(0).padStart(6)}  ${String(s.p50).padStart(6)}  ${String(s.p99).padStart(6)}  ${(s.rss / 2 ** 20).toFixed(0).padStart(6)}  ${s.cpuPerRequest.toFixed(0).padStart(10)}  ${String(s.errors).padStart(7)}`,
    );
  }
  // Ratios are taken within each round (the variants ran back to back), then the median.
  const ratios = (x: Variant, y: Variant) => results[x].map((r, i) => r.rps / results[y][i].rps);
  const spread = (values: number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;
  const goals: [Variant, Variant, string][] = [
    ['b', 'a', `goal ≥ ${redis ? '0.70 with Redis' : '0.90'}`],
    ['b', 'c', 'goal ≥ 5'],
    ['d', 'b', 'the access log and metrics on top of the guard'],
  ];
  console.log('');
  for (const [x, y, goal] of goals) {
    if (summary[x] && summary[y]) console.log(`${x}/${y} = ${median(ratios(x, y)).toFixed(2)} (${goal}; rounds ${spread(ratios(x, y))})`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
