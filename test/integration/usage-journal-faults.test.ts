/**
 * The usage journal under process faults, on real app processes (dist/server.js) with every batch
 * journaled (USAGE_FOLD_MIN_KEYS=1):
 * - kill -9 with usage in the journal: the next process on the database folds the dead one's rows
 *   once its lease has lapsed, and the stored usage is the 200s served less at most the last
 *   interval plus two writes (the journal loses nothing the buffer had appended), never more;
 * - kill -STOP past the lease while another instance runs: that instance folds the paused one's
 *   rows; resumed, the paused one finds them gone and writes none of them again. Both stopped
 *   with SIGTERM, the stored usage is exactly the 200s served, and the journal is empty.
 * SQLite always; PostgreSQL when TEST_DATABASE_URL is set.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { DatabaseProvider } from '../../src/config';
import { buildKeyInput, createTestContext, TEST_SECRET, type TestContext, testActor } from '../helpers/context';
import { availableProviders, tempDir } from '../helpers/databases';
import { apiLoad, loggedEntries } from '../helpers/api-load';
import { freePort, type ServerProcess, startServer } from '../helpers/processes';

const INTERVAL_MS = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One statement on the test's own connection. */
async function query<T>(provider: DatabaseProvider, t: TestContext, sql: string): Promise<T[]> {
  if (provider === 'sqlite') {
    const db = new BetterSqlite3(t.db.config.sqlitePath as string, { timeout: 10_000 });
    try {
      const statement = db.prepare(sql);
      return statement.reader ? (statement.all() as T[]) : (statement.run(), []);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: t.db.config.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

const journalRows = async (provider: DatabaseProvider, t: TestContext) =>
  Number((await query<{ n: unknown }>(provider, t, 'SELECT COUNT(*) AS n FROM usage_journal'))[0].n);
const storedOk = async (provider: DatabaseProvider, t: TestContext) => {
  const [keys] = await query<{ ok: unknown; failed: unknown }>(provider, t, 'SELECT SUM("requestsOk") AS ok, SUM("requestsFailed") AS failed FROM api_keys');
  const [hourly] = await query<{ ok: unknown }>(provider, t, 'SELECT SUM("requestsOk") AS ok FROM usage_hourly');
  return { ok: Number(keys.ok ?? 0), failed: Number(keys.failed ?? 0), hourlyOk: Number(hourly.ok ?? 0) };
};
/** Request-log rows: in request_log, and staged (waiting for the fold of their journal row). */
const logRows = async (provider: DatabaseProvider, t: TestContext) => {
  const [row] = await query<{ logged: unknown; staged: unknown }>(
    provider,
    t,
    'SELECT (SELECT COUNT(*) FROM request_log) AS logged, (SELECT COUNT(*) FROM request_log_staged) AS staged',
  );
  return { logged: Number(row.logged), staged: Number(row.staged) };
};

/** Waits until `check` holds (polled), failing after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

describe.each(availableProviders)('usage journal under process faults (%s)', (provider) => {
  let t: TestContext;
  let keys: string[];
  const servers: ServerProcess[] = [];
  const env = (fold: { intervalMs: number }) => ({
    DATABASE_URL: t.db.config.url,
    KEY_HASH_SECRET: TEST_SECRET,
    SESSION_SECRET: 's'.repeat(48),
    ADMIN_PASSWORD: 'a very good password',
    USAGE_FLUSH_INTERVAL_MS: String(INTERVAL_MS),
    USAGE_FOLD_INTERVAL_MS: String(fold.intervalMs),
    USAGE_FOLD_MIN_KEYS: '1',
    LOG_LEVEL: 'debug',
  });
  const start = async (fold: { intervalMs: number }) => {
    const server = await startServer({ cwd: tempDir(), port: await freePort(), env: env(fold) });
    servers.push(server);
    return server;
  };

  beforeEach(async () => {
    t = await createTestContext(provider);
    const tenant = await t.ctx.tenants.create({ name: 'Journal', slug: 'journal' }, testActor);
    const limits = { tier: 'enterprise', rateLimits: { perMinute: 10_000, perHour: 100_000 } };
    try {
      keys = (await Promise.all([0, 1, 2, 3].map(() => t.ctx.keys.create(tenant.id, buildKeyInput(limits), testActor)))).map((c) => c.key);
    } finally {
      await t.ctx.close();
    }
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGCONT');
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    }
    await t.db.drop();
  });

  it('kill -9: the next process folds the dead one\'s journal rows once its lease lapsed, losing at most the last interval plus two writes', async () => {
    // Never folds by itself: all it appended is in the journal when it dies.
    const dead = await start({ intervalMs: 600_000 });
    const load = apiLoad(dead, keys, { workers: 12, timeoutMs: 60_000 });
    await sleep(2_000);
    const killedAt = Date.now();
    dead.child.kill('SIGKILL');
    await new Promise((resolve) => dead.child.once('close', resolve));
    await load.stop();
    expect(load.refused).toEqual([]);
    expect(load.seen.length).toBeGreaterThan(100);
    const appended = await journalRows(provider, t);
    expect(appended).toBeGreaterThan(3);
    expect((await storedOk(provider, t)).ok).toBe(0);
    const staged = await logRows(provider, t);
    expect(staged.logged).toBe(0);
    expect(staged.staged).toBeGreaterThan(100);
    const writes = loggedEntries<{ ms: number }>(dead, 'usage written').map((entry) => entry.ms);

    // Its lease (two fold intervals plus 10 s: 20 minutes here) has run out.
    await query(provider, t, `UPDATE usage_journal_leases SET "expiresAt" = '2000-01-01T00:00:00.000+00:00'`);
    const next = await start({ intervalMs: 1_000 });
    await until('the journal is folded', async () => (await journalRows(provider, t)) === 0, 20_000);
    expect(await next.stop()).toBe(0);
    const folded = loggedEntries<{ rows: number }>(next, 'usage folded');
    expect(folded.reduce((sum, f) => sum + f.rows, 0)).toBe(appended);

    const stored = await storedOk(provider, t);
    const bound = INTERVAL_MS + 2 * Math.max(...writes) + 300;
    expect(stored.ok).toBeLessThanOrEqual(load.seen.length);
    expect(load.seen.length - stored.ok).toBeLessThanOrEqual(load.seen.filter((time) => time > killedAt - bound).length);
    expect(stored.failed).toBe(0);
    expect(stored.hourlyOk).toBe(stored.ok);
    // Its request log moved with its journal rows: one row per request counted, none left staged.
    expect(await logRows(provider, t)).toEqual({ logged: stored.ok, staged: 0 });
  }, 90_000);

  it('kill -STOP past the lease: another instance folds the paused one\'s rows, and resumed it never writes them again', async () => {
    // The lease is two fold intervals plus 10 s: 12 s.
    const paused = await start({ intervalMs: 1_000 });
    const other = await start({ intervalMs: 1_000 });
    const load = apiLoad(paused, keys, { workers: 12, timeoutMs: 60_000 });
    await sleep(1_500);
    // Paused while its journal holds rows, and not in the middle of a SQLite write (the other
    // instance would wait for its lock, not for its lease).
    for (let attempt = 0; ; attempt++) {
      expect(attempt).toBeLessThan(50);
      if ((await journalRows(provider, t)) > 0) {
        paused.child.kill('SIGSTOP');
        await sleep(50);
        if ((await journalRows(provider, t)) > 0 && (provider !== 'sqlite' || (await sqliteWritable(t)))) break;
        paused.child.kill('SIGCONT');
      }
      await sleep(37);
    }
    const pausedAt = Date.now();
    await until('the other instance folded the paused one\'s rows', async () => (await journalRows(provider, t)) === 0, 30_000);
    expect(Date.now() - pausedAt).toBeGreaterThan(1_000);
    paused.child.kill('SIGCONT');
    // Resumed: the answers it owed arrive, and it serves a little longer.
    await sleep(1_500);
    await load.stop();
    expect(load.refused).toEqual([]);

    expect(await paused.stop()).toBe(0);
    expect(await other.stop()).toBe(0);
    expect(paused.output()).toContain('usage journal rows were folded by another process meanwhile');
    const otherFolded = loggedEntries<{ rows: number }>(other, 'usage folded');
    expect(otherFolded.reduce((sum, f) => sum + f.rows, 0)).toBeGreaterThan(0);

    const stored = await storedOk(provider, t);
    expect(stored).toEqual({ ok: load.seen.length, failed: 0, hourlyOk: load.seen.length });
    expect(await journalRows(provider, t)).toBe(0);
    // The paused one's request log was moved once, by the instance that folded its rows.
    expect(await logRows(provider, t)).toEqual({ logged: load.seen.length, staged: 0 });
    // A clean stop ends the process's lease.
    expect(Number((await query<{ n: unknown }>(provider, t, 'SELECT COUNT(*) AS n FROM usage_journal_leases'))[0].n)).toBe(0);
  }, 120_000);
});

/** Whether the SQLite file's write lock is free (a paused process is not holding it). */
async function sqliteWritable(t: TestContext): Promise<boolean> {
  const db = new BetterSqlite3(t.db.config.sqlitePath as string, { timeout: 0 });
  try {
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return true;
  } catch {
    return false;
  } finally {
    db.close();
  }
}
