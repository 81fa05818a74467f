/**
 * `npm run bench:pages`: server time of the dashboard's and the management API's lists, filters,
 * searches, deep pages, audit log, overview and stats on the database `npm run bench:seed` built
 * (SQLite bench-data/keyward-bench.db or --db FILE; or DATABASE_URL), and what loading them does
 * to the /api latency.
 *
 * The app (as `npm start` wires it) runs in a child process; this process is the browser and the
 * API client. Each row is requested --runs times (default 7) after one warm-up, one at a time; the
 * median time to the last byte counts. Then GET /api/v1/models (a guarded /api request) is sent at
 * a fixed rate (--rate, default 200/s) for --seconds (default 10) with the server idle, and again
 * while one person reloads every page of the table in a loop; the p99 of both and their ratio are
 * printed (goal: ≤ 2).
 */
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createApp } from '../app';
import { systemActor } from '../audit/audit-types';
import { createContext } from '../context';
import { encodeCursor } from '../data/repositories/key-list';
import { migrate } from '../data/migrations';
import { createLogger } from '../logger';
import { BENCH_ADMIN, BENCH_TENANT_SLUG, benchConfig, DEFAULT_BENCH_FILE, describeDatabase } from './bench-database';

interface Ready {
  type: 'ready';
  port: number;
  apiKey: string;
  managementKey: string;
  /** Cursors of the newest-first list: after 19,980 keys (page 1,000) and after 799,980 (page 40,000). */
  cursor1k: string | null;
  cursor40k: string | null;
  hotKeyId: string | null;
  keyCount: number;
  database: string;
}

// ---------------------------------------------------------------- server (child process)

async function serve(file: string): Promise<void> {
  const config = benchConfig(file);
  await migrate(config.database);
  const ctx = createContext(config, { logger: createLogger('silent') });
  await ctx.ready();
  const tenant = await ctx.tenants.findBySlug(BENCH_TENANT_SLUG);
  if (!tenant) throw new Error('no seeded tenant here: run `npm run bench:seed` first (same --db or DATABASE_URL)');
  const actor = systemActor('bench-pages');
  const limits = { perMinute: 10_000, perHour: 100_000, perDay: 1_000_000, perMonth: 30_000_000 };
  const api = await ctx.keys.create(tenant.id, { name: 'bench-pages api', scopes: ['api'], tier: 'enterprise', rateLimits: limits }, actor);
  const management = await ctx.keys.create(tenant.id, { name: 'bench-pages management', scopes: ['keys:read'], tier: 'enterprise', rateLimits: limits }, actor);

  // Cursors deep in the newest-first list, read once from the (tenantId, createdAt, id) index.
  const at = async (offset: number) => {
    const rows = await ctx.database.reads.all<{ id: string; createdAt: unknown }>(
      'SELECT "id", "createdAt" FROM "api_keys" WHERE "tenantId" = ? ORDER BY "createdAt" DESC, "id" DESC LIMIT 1 OFFSET ?',
      [tenant.id, offset],
    );
    const row = rows[0];
    if (!row) return null;
    const ms = (row.createdAt instanceof Date ? row.createdAt : new Date(String(row.createdAt))).getTime();
    return encodeCursor({ sort: 'createdAt', order: 'desc', value: ms, id: row.id });
  };
  const counts = await ctx.database.reads.all<{ n: unknown }>('SELECT SUM("count") AS "n" FROM "tenant_key_counts" WHERE "tenantId" = ?', [tenant.id]);
  // The most used key that still exists: an earlier run's own keys are deleted at its end, and
  // their usage rows stay (as any deleted key's do), often the month's most used.
  const hot = await ctx.database.reads.all<{ keyId: string }>(
    `SELECT m."keyId" FROM "usage_key_monthly" m JOIN "api_keys" k ON k."id" = m."keyId"
     WHERE m."tenantId" = ? ORDER BY m."monthStart" DESC, m."requestsOk" DESC LIMIT 1`,
    [tenant.id],
  );

  const app = createApp(ctx);
  const server = app.listen(0, '127.0.0.1', async () => {
    const { port } = server.address() as { port: number };
    process.send?.({
      type: 'ready',
      port,
      apiKey: api.key,
      managementKey: management.key,
      cursor1k: await at(19_979),
      cursor40k: await at(799_979),
      hotKeyId: hot[0]?.keyId ?? null,
      keyCount: Number(counts[0]?.n ?? 0),
      database: describeDatabase(config),
    } satisfies Ready);
  });
  process.on('message', (message: { type: string }) => {
    if (message.type !== 'stop') return;
    server.close();
    // The two keys the benchmark made go again, so runs do not pile them up.
    Promise.all([api.apiKey.id, management.apiKey.id].map((id) => ctx.keys.delete(tenant.id, id, actor)))
      .catch(() => undefined)
      .finally(() => ctx.close().finally(() => process.exit(0)));
  });
}

// ---------------------------------------------------------------- client (parent)

interface Row {
  label: string;
  path: string;
  /** Sent with the management key (API rows) or the session cookie (dashboard rows). */
  api: boolean;
}

class Browser {
  private cookie = '';

  constructor(private readonly base: string) {}

  async signIn(email: string, password: string): Promise<void> {
    const page = await fetch(`${this.base}/login`, { redirect: 'manual' });
    this.keep(page);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
    if (!csrf) throw new Error('no CSRF token on the sign-in page');
    const res = await fetch(`${this.base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: this.cookie },
      body: new URLSearchParams({ email, password, _csrf: csrf }).toString(),
    });
    this.keep(res);
    await res.text();
    if (res.status !== 302) throw new Error(`sign-in failed: ${res.status}`);
  }

  private keep(res: Response): void {
    const set = res.headers.getSetCookie();
    if (set.length > 0) this.cookie = set.map((c) => c.split(';')[0]).join('; ');
  }

  /** Milliseconds from sending the request to the last byte of the answer. */
  async time(path: string, headers: Record<string, string> = {}): Promise<number> {
    const started = performance.now();
    const res = await fetch(`${this.base}${path}`, { redirect: 'manual', headers: { cookie: this.cookie, accept: 'text/html', ...headers } });
    await res.arrayBuffer();
    const elapsed = performance.now() - started;
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
    return elapsed;
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function rowsOf(ready: Ready): Row[] {
  const page = (label: string, path: string): Row => ({ label, path, api: false });
  const api = (label: string, path: string): Row => ({ label, path, api: true });
  const rows: Row[] = [
    // What every dashboard page costs before its own reads (session, viewer, layout): for reference.
    page('baseline: account page (no list)', '/account'),
    page('keys list, first page', '/keys'),
    page('keys list, page 500 (page jump, 10,000 deep)', '/keys?page=500'),
    ...(ready.cursor1k ? [page('keys list, page 1,000 (cursor)', `/keys?cursor=${ready.cursor1k}`)] : []),
    ...(ready.cursor40k ? [page('keys list, page 40,000 (cursor)', `/keys?cursor=${ready.cursor40k}`)] : []),
    page('keys list, sorted by name', '/keys?sort=name'),
    page('keys list, recently used', '/keys?sort=last-used'),
    page('keys list, expiring soonest', '/keys?sort=expiring'),
    page('search "ledger-sync" (common)', '/keys?q=ledger-sync'),
    page('search "424242" (rare)', '/keys?q=424242'),
    page('search "ml" (2 characters)', '/keys?q=ml'),
    page('tag filter "prod" (common)', '/keys?tag=prod'),
    page('tag filter "customer-42" (rare)', '/keys?tag=customer-42'),
    page('status=active', '/keys?status=active'),
    page('status=expired', '/keys?status=expired'),
    page('combined: active + tag team-7 + search "prod"', '/keys?status=active&tag=team-7&q=prod'),
    page('combined: revoked + tag prod + sort name', '/keys?status=revoked&tag=prod&sort=name'),
    page('audit log', '/audit'),
    page('overview', '/'),
    page('platform admin: tenants (key counts per tenant)', '/tenants'),
    ...(ready.hotKeyId ? [page('key page (usage and outcomes)', `/keys/${ready.hotKeyId}`)] : []),
    api('API keys, first page', '/api/v1/keys'),
    ...(ready.cursor1k ? [api('API keys, page 1,000 (cursor)', `/api/v1/keys?cursor=${ready.cursor1k}`)] : []),
    api('API keys, search "ledger-sync"', '/api/v1/keys?search=ledger-sync'),
    api('API keys, tag "prod"', '/api/v1/keys?tag=prod'),
    api('API keys, tag "customer-42"', '/api/v1/keys?tag=customer-42'),
    api('API keys, status=active', '/api/v1/keys?status=active'),
    api('API keys, combined filters', '/api/v1/keys?status=active&tag=team-7&search=prod'),
    api('API audit events', '/api/v1/audit-events'),
    api('API stats', '/api/v1/stats'),
    api('API usage by day (30 days)', '/api/v1/usage'),
    api('API usage by key (30 days)', '/api/v1/usage?groupBy=key'),
    api('API usage by model (30 days)', '/api/v1/usage?groupBy=model'),
    ...(ready.hotKeyId ? [api('API key usage report', `/api/v1/keys/${ready.hotKeyId}/usage`)] : []),
  ];
  return rows;
}

async function apiLatency(port: number, key: string, seconds: number, rate: number): Promise<{ p50: number; p99: number; max: number; requests: number; errors: number }> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/api/v1/models`,
    headers: { authorization: `Bearer ${key}` },
    connections: 10,
    overallRate: rate,
    duration: seconds,
  });
  return {
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      db: { type: 'string', default: DEFAULT_BENCH_FILE },
      runs: { type: 'string', default: '7' },
      seconds: { type: 'string', default: '10' },
      rate: { type: 'string', default: '200' },
      only: { type: 'string' },
    },
  });
  if (process.env.KEYWARD_BENCH_PAGES_SERVER) {
    await serve(values.db as string);
    return;
  }
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  const rate = Number(values.rate);
  // BENCH_NODE_FLAGS (for example --cpu-prof) go to the app's process, as with npm run bench.
  const execArgv = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : [];
  const child = fork(__filename, process.argv.slice(2), { env: { ...process.env, KEYWARD_BENCH_PAGES_SERVER: '1' }, stdio: 'inherit', execArgv });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.on('message', (message: Ready) => message.type === 'ready' && resolve(message));
    child.once('exit', (code) => reject(new Error(`the server stopped (exit ${code})`)));
  });
  const stop = () => child.send({ type: 'stop' });
  try {
    const browser = new Browser(`http://127.0.0.1:${ready.port}`);
    await browser.signIn(BENCH_ADMIN.email, BENCH_ADMIN.password);
    const auth = { authorization: `Bearer ${ready.managementKey}`, accept: 'application/json' };
    const request = (row: Row) => browser.time(row.path, row.api ? auth : {});
    const rows = rowsOf(ready).filter((row) => !values.only || row.label.includes(values.only));

    console.log(`bench:pages on ${ready.database}, ${ready.keyCount.toLocaleString('en-US')} keys in the tenant; median of ${runs} runs (ms, request to last byte)`);
    const results: { label: string; ms: number }[] = [];
    for (const row of rows) {
      await request(row);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await request(row));
      const ms = median(times);
      results.push({ label: row.label, ms });
      console.log(`  ${row.label.padEnd(52)} ${ms.toFixed(1).padStart(8)} ms${ms > 100 ? '   > 100 ms' : ''}`);
    }
    const worst = results.reduce((a, b) => (b.ms > a.ms ? b : a));
    console.log(`  slowest: ${worst.label} at ${worst.ms.toFixed(1)} ms; rows over 100 ms: ${results.filter((r) => r.ms > 100).length}`);

    console.log(`\n/api latency, GET /api/v1/models at ${rate} req/s for ${seconds} s:`);
    const idle = await apiLatency(ready.port, ready.apiKey, seconds, rate);
    let loading = true;
    let loads = 0;
    const loop = (async () => {
      while (loading) {
        for (const row of rows) {
          if (!loading) break;
          await request(row);
          loads += 1;
        }
      }
    })();
    const busy = await apiLatency(ready.port, ready.apiKey, seconds, rate);
    loading = false;
    await loop;
    const line = (name: string, r: typeof idle) =>
      `  ${name.padEnd(34)} p50 ${String(r.p50).padStart(4)} ms  p99 ${String(r.p99).padStart(4)} ms  max ${String(r.max).padStart(5)} ms  (${r.requests} requests, ${r.errors} errors)`;
    console.log(line('idle', idle));
    console.log(line(`while pages load in a loop (${loads} pages)`, busy));
    console.log(`  p99 loaded / idle: ${(busy.p99 / Math.max(1, idle.p99)).toFixed(2)} (goal ≤ 2; p99 under 1 ms counts as 1 ms)`);
  } finally {
    stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
