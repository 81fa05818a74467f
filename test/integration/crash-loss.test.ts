/**
 * What a crash loses (README, Crash safety), on a real app process (dist/server.js) under load:
 * client loops call /api while each 200's arrival time is noted, the process is killed with
 * SIGKILL, restarted on the same database, and the stored usage is compared with the 200s seen.
 * The bound: the usage of the requests answered in the last interval plus two writes (the server
 * reports each write's duration at LOG_LEVEL=debug; under load a write takes from a few ms on
 * SQLite to a few hundred on PostgreSQL). Never more than was served: no request counted twice.
 * SQLite always; PostgreSQL when TEST_DATABASE_URL is set.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { DatabaseProvider } from '../../src/config';
import { createTestContext, TEST_SECRET, testActor } from '../helpers/context';
import { availableProviders, type TestDatabase, tempDir } from '../helpers/databases';
import { apiLoad, loggedEntries } from '../helpers/api-load';
import { freePort, type ServerProcess, startServer } from '../helpers/processes';

const INTERVAL_MS = 200;
/**
 * Added to the bound for what the test cannot see: a tick fires late by the server's event-loop
 * delay (up to about 130 ms measured under this load on 2 cores), and the write in flight at the
 * kill may be slower than the slowest one reported. Client clocks read a 200 after the server
 * recorded it, which only makes the window they see shorter. No other timing is asserted.
 */
const LAG_TOLERANCE_MS = 300;
const WORKERS = 16;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function storedUsage(provider: DatabaseProvider, db: TestDatabase) {
  const keys = 'SELECT SUM("requestsOk") AS ok, SUM("requestsFailed") AS failed FROM api_keys';
  const hourly = 'SELECT SUM("requestsOk") AS ok FROM usage_hourly';
  type Sums = { ok: unknown; failed?: unknown };
  let rows: [Sums, Sums];
  if (provider === 'sqlite') {
    const sqlite = new BetterSqlite3(db.config.sqlitePath as string, { readonly: true });
    rows = [sqlite.prepare(keys).get() as Sums, sqlite.prepare(hourly).get() as Sums];
    sqlite.close();
  } else {
    const client = new pg.Client({ connectionString: db.config.url });
    await client.connect();
    rows = [(await client.query(keys)).rows[0], (await client.query(hourly)).rows[0]];
    await client.end();
  }
  return { ok: Number(rows[0].ok ?? 0), failed: Number(rows[0].failed ?? 0), hourlyOk: Number(rows[1].ok ?? 0) };
}

/** The durations of the writes the server reported before it was killed ('usage written', debug). */
function writeDurations(server: ServerProcess): number[] {
  return loggedEntries<{ ms: number }>(server, 'usage written').map((entry) => entry.ms);
}

describe.each(availableProviders)('kill -9 under load (%s)', (provider) => {
  it('loses at most the 200s of the last interval plus two writes, and never counts one twice', async () => {
    const t = await createTestContext(provider);
    const servers: ServerProcess[] = [];
    try {
      const tenant = await t.ctx.tenants.create({ name: 'Crash', slug: 'crash' }, testActor);
      const limits = { tier: 'enterprise', rateLimits: { perMinute: 10_000, perHour: 100_000 } };
      const keys = await Promise.all([0, 1, 2, 3].map((i) => t.ctx.keys.create(tenant.id, { name: `load ${i}`, ...limits }, testActor)));
      await t.ctx.close();
      const env = {
        DATABASE_URL: t.db.config.url,
        KEY_HASH_SECRET: TEST_SECRET,
        SESSION_SECRET: 's'.repeat(48),
        ADMIN_PASSWORD: 'a very good password',
        USAGE_FLUSH_INTERVAL_MS: String(INTERVAL_MS),
        LOG_LEVEL: 'debug',
      };
      const server = await startServer({ cwd: tempDir(), port: await freePort(), env });
      servers.push(server);

      const load = apiLoad(server, keys.map((k) => k.key), { workers: WORKERS, timeoutMs: 10_000, alternateModels: true });
      const { seen, refused } = load;
      await sleep(2_500 + Math.random() * 1_000);
      const killedAt = Date.now();
      server.child.kill('SIGKILL');
      await new Promise((resolve) => server.child.once('exit', resolve));
      await load.stop();

      const writes = writeDurations(server);
      expect(refused).toEqual([]);
      expect(seen.length).toBeGreaterThan(200);
      expect(writes.length).toBeGreaterThanOrEqual(3);

      // A restart on the same database counts nothing more (nothing was buffered in it).
      const again = await startServer({ cwd: tempDir(), port: await freePort(), env });
      servers.push(again);
      expect(await again.stop()).toBe(0);

      const stored = await storedUsage(provider, t.db);
      const bound = INTERVAL_MS + 2 * Math.max(...writes) + LAG_TOLERANCE_MS;
      const lost = seen.length - stored.ok;
      const seenWithinBound = seen.filter((time) => time > killedAt - bound).length;
      expect(stored.ok).toBeLessThanOrEqual(seen.length);
      expect(lost).toBeLessThanOrEqual(seenWithinBound);
      expect(stored.failed).toBe(0);
      // Counters and rollups are written in one transaction: a crash never splits them.
      expect(stored.hourlyOk).toBe(stored.ok);
    } finally {
      for (const server of servers) if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await t.db.drop();
    }
  }, 90_000);
});
