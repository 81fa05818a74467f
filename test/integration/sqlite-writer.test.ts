/**
 * Planned writes on SQLite (database.write, used by every usage batch) run on a writer thread:
 * the event loop keeps running while they run, a plan commits whole or not at all, its readers get
 * their rows only after the commit, values are stored exactly as the app's own client stores them
 * (a whole usage batch written both ways compared value by value), it waits for the app's write
 * lock (and the app for its), and closing the database waits for a write in flight.
 */
import { performance } from 'node:perf_hooks';
import { Prisma } from '../../src/generated/postgresql/client';
import { YOUNG_GENERATION_MB } from '../../src/data/sqlite-thread';
import { WritePlan } from '../../src/data/write-plan';
import { type Database, openDatabase } from '../../src/data/database';
import { migrate } from '../../src/data/migrations';
import { createSqliteDatabase } from '../helpers/databases';
import { writeUsageBatch } from '../../src/data/repositories/usage';
import { emptyUsageBatch } from '../../src/usage/usage-batch';
import { UsageBuffer } from '../../src/usage/usage-buffer';
import { buildRefusal, buildUsageEvent } from '../helpers/usage-events';
import { buildKeyInput, buildTenant, createTestContext, type TestContext, testActor } from '../helpers/context';

/** A statement that keeps SQLite busy for a while (a few hundred ms) and returns one row. */
const busy = (n: number) => Prisma.sql`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${n}) SELECT COUNT(*) AS "n" FROM c`;

const attempt = (ip: string, at: Date, attempts = 1) =>
  Prisma.sql`INSERT INTO "unknown_key_attempts" ("bucketStart", "ip", "attempts", "blockedAttempts", "lastSeenAt")
    VALUES (${at}, ${ip}, ${attempts}, 0, ${at})`;

describe('planned writes on SQLite', () => {
  let t: TestContext;
  const stored = (ip: string) => t.ctx.database.prisma.unknownKeyAttempt.findMany({ where: { ip } });

  beforeAll(async () => {
    t = await createTestContext('sqlite');
  });
  afterAll(async () => t.close());

  it('runs off the event loop: the app thread keeps serving timers while a long write runs', async () => {
    const plan = new WritePlan();
    let counted = 0;
    plan.execute(attempt('192.0.2.1', new Date(Date.UTC(2026, 10, 30))));
    plan.query<{ n: number | bigint }>(busy(3_000_000), (rows) => (counted = Number(rows[0].n)));
    // The longest the event loop went without running a 5 ms timer during the write. (Event-loop
    // utilization is no measure here: in a busy test process other files' leftover timers keep
    // the loop from idling, and it read 1 with the write off the loop.)
    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    try {
      await t.ctx.database.write(plan);
    } finally {
      clearInterval(ticker);
    }
    const ms = performance.now() - started;
    longestGap = Math.max(longestGap, performance.now() - last);
    expect(counted).toBe(3_000_000);
    // The write took a while; the loop never stopped for more than a fraction of it (on the app's
    // thread, as through the Prisma client, the gap is the whole write).
    expect(ms).toBeGreaterThan(50);
    expect(longestGap).toBeLessThan(ms / 2);
    expect(await stored('192.0.2.1')).toHaveLength(1);
  });

  it('stores times and numbers as the app client does', async () => {
    const at = new Date(Date.UTC(2026, 10, 30, 12, 34, 56, 789));
    const plan = new WritePlan();
    plan.execute(attempt('192.0.2.2', at, 7));
    await t.ctx.database.write(plan);
    await t.ctx.database.prisma.unknownKeyAttempt.create({ data: { bucketStart: at, ip: '192.0.2.3', attempts: 7n, blockedAttempts: 0n, lastSeenAt: at } });
    // quote(): the stored value itself (a time's text, not the Date a read would parse it into).
    const rows = await t.ctx.database.prisma.$queryRaw<{ bucketStart: string; attempts: string }[]>`
      SELECT quote("bucketStart") AS "bucketStart", quote("attempts") AS "attempts" FROM "unknown_key_attempts" WHERE "ip" IN ('192.0.2.2', '192.0.2.3') ORDER BY "ip"`;
    expect(rows[0]).toEqual(rows[1]);
    expect(rows[0]).toEqual({ bucketStart: "'2026-11-30T12:34:56.789+00:00'", attempts: '7' });
    const [planned] = await stored('192.0.2.2');
    expect(planned.bucketStart).toEqual(at);
    expect(planned.attempts).toBe(7n);
  });

  it('a usage batch run row by row on the thread stores exactly what the multi-row statements store through the client', async () => {
    // The same batch, for a key of its own in a tenant of its own, written both ways.
    const viaClient: Pick<Database, 'write' | 'sql' | 'prisma' | 'provider'> = {
      ...t.ctx.database,
      write: async (plan) => plan.deliver(await t.ctx.database.prisma.$transaction((tx) => plan.runWith(tx))),
    };
    // The window of the last 30 days covers the batch's day (after the roll at start, whatever today is).
    await t.ctx.usageWindow.rollOnce();
    await t.ctx.database.prisma.usageWindowState.update({ where: { id: 1 }, data: { startDay: new Date(Date.UTC(2026, 10, 1)), endDay: new Date(Date.UTC(2026, 10, 30)) } });
    const written = [];
    for (const [name, db] of [['thread', t.ctx.database], ['client', viaClient]] as const) {
      const tenant = await buildTenant(t.ctx, { name });
      const { apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput({ name, budget: { limitCents: 1000, period: 'monthly' } }), testActor);
      let batch = emptyUsageBatch();
      const buffer = new UsageBuffer({ write: async (b) => void (batch = b) });
      const at = Date.UTC(2026, 10, 30, 12, 0, 0);
      for (let i = 0; i < 4; i++) {
        const facts = {
          keyId: apiKey.id,
          tenantId: tenant.id,
          at: at + 7 * i,
          ip: i === 1 ? '2001:db8::1' : '192.0.2.9',
          model: i === 0 ? null : 'gpt-4o-mini',
          chatbot: i === 1 ? 'bot ✓ 😀' : null,
          userAgent: i === 2 ? null : 'ua/1.0',
          requestId: i === 0 ? "req 'quoted' \\ %_" : null,
          latencyMs: i,
        };
        if (i === 3) buffer.refused(buildRefusal('rate_limited', facts));
        else buffer.record(buildUsageEvent({ ...facts, tokens: 10 * i, costMicroCents: 2 ** 40 + i, budgetPeriodStart: Date.UTC(2026, 10, 1) }));
      }
      buffer.unknownKey({ ip: name === 'thread' ? '198.51.100.1' : '198.51.100.2', at, blocked: false });
      await buffer.flush();
      const result = await writeUsageBatch(db, batch);
      // Then the other branches of a key's counters: an older budget period (left alone), a newer
      // one (started over), the same one again (added to); a lastUsedAt before the stored one (kept).
      const steps: [number, number | null][] = [[Date.UTC(2026, 9, 1), at - 60_000], [Date.UTC(2026, 11, 1), at + 5000], [Date.UTC(2026, 11, 1), null]];
      for (const [period, lastUsedAt] of steps) {
        const key = { keyId: apiKey.id, tenantId: tenant.id, requestsOk: 1, requestsFailed: 0, tokens: 0, spendMicroCents: 0, budgetPeriod: period, budgetPeriodSpend: 17, lastUsedAt };
        await writeUsageBatch(db, { ...emptyUsageBatch(), keys: [key] });
      }
      written.push({ keyId: apiKey.id, tenantId: tenant.id, newAddresses: result.newClientAddresses.map((a) => a.ip).sort() });
    }
    const [thread, client] = written;
    expect(thread.newAddresses).toEqual(['192.0.2.9', '2001:db8::1']);
    expect(thread.newAddresses).toEqual(client.newAddresses);
    // Every column of every row exactly as stored (quote(): the value as an SQL literal, so text,
    // integer, real and NULL differ, and a time is its text), the key and tenant ids left out.
    const rowsOf = async (table: string, column: 'keyId' | 'tenantId' | 'id', id: string) => {
      const columns = (await t.ctx.database.prisma.$queryRawUnsafe<{ name: string }[]>(`SELECT "name" FROM pragma_table_info('${table}')`)).map((c) => c.name);
      const shown = columns.filter((c) => !['id', 'keyId', 'tenantId', 'updatedAt', 'createdAt', 'name', 'keyName', 'secretHash', 'last4', 'prefix'].includes(c));
      return t.ctx.database.prisma.$queryRawUnsafe<Record<string, string>[]>(
        // Ordered by every column shown (some tables have no rowid).
        `SELECT ${shown.map((c) => `quote("${c}") AS "${c}"`).join(', ')} FROM "${table}" WHERE "${column}" = ? ORDER BY ${shown.map((_, i) => i + 1).join(', ')}`,
        id,
      );
    };
    const perKey = ['usage_hourly', 'usage_daily', 'usage_key_monthly', 'usage_outcomes_hourly', 'usage_outcomes_daily', 'usage_models_daily', 'request_log', 'key_client_addresses', 'usage_key_window'];
    for (const table of perKey) {
      const stored = await rowsOf(table, 'keyId', thread.keyId);
      expect({ table, rows: stored.length > 0 }).toEqual({ table, rows: true });
      expect({ table, stored }).toEqual({ table, stored: await rowsOf(table, 'keyId', client.keyId) });
    }
    // The window row starts with its key's name (different keys: checked apart from the counters).
    for (const key of [thread, client]) {
      const [window] = await t.ctx.database.prisma.$queryRawUnsafe<{ keyName: string }[]>('SELECT "keyName" FROM "usage_key_window" WHERE "keyId" = ?', key.keyId);
      const [named] = await t.ctx.database.prisma.$queryRawUnsafe<{ name: string }[]>('SELECT "name" FROM "api_keys" WHERE "id" = ?', key.keyId);
      expect(window.keyName).toBe(named.name);
    }
    for (const table of ['usage_tenant_daily', 'usage_tenant_outcomes_daily']) {
      expect({ table, stored: await rowsOf(table, 'tenantId', thread.tenantId) }).toEqual({ table, stored: await rowsOf(table, 'tenantId', client.tenantId) });
    }
    const keyRow = await rowsOf('api_keys', 'id', thread.keyId);
    expect(keyRow[0]).toMatchObject({
      requestsOk: '6',
      spendMicroCents: String(3 * 2 ** 40 + 3),
      budgetPeriodStart: "'2026-12-01T00:00:00.000+00:00'",
      budgetSpentMicroCents: '34',
      budgetCeilingMicroCents: '0',
      lastUsedAt: `'${new Date(Date.UTC(2026, 10, 30, 12, 0, 5)).toISOString().replace('Z', '+00:00')}'`,
    });
    expect(keyRow).toEqual(await rowsOf('api_keys', 'id', client.keyId));
    const unknown = await t.ctx.database.prisma.$queryRawUnsafe<Record<string, unknown>[]>(
      `SELECT quote("bucketStart") AS "b", quote("attempts") AS "a", quote("lastSeenAt") AS "l" FROM "unknown_key_attempts" WHERE "ip" IN ('198.51.100.1', '198.51.100.2') ORDER BY "ip"`,
    );
    expect(unknown).toHaveLength(2);
    expect(unknown[0]).toEqual(unknown[1]);
  });

  it('commits all of a plan or none of it, and tells its readers only after a commit', async () => {
    const plan = new WritePlan();
    let read = false;
    plan.execute(attempt('192.0.2.4', new Date()));
    plan.query(Prisma.sql`SELECT 1 AS "one"`, () => (read = true));
    plan.execute(Prisma.sql`INSERT INTO "no_such_table" ("x") VALUES (1)`);
    await expect(t.ctx.database.write(plan)).rejects.toThrow(/no_such_table/);
    expect(read).toBe(false);
    expect(await stored('192.0.2.4')).toHaveLength(0);
  });

  it("waits for the app's write lock, and the app for its", async () => {
    // The app's thread holds the write lock in a transaction while the writer thread asks for it.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const appTx = t.ctx.database.transaction(async (tx) => {
      await tx.$executeRaw(attempt('192.0.2.5', new Date()));
      await held;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const plan = new WritePlan();
    plan.execute(Prisma.sql`UPDATE "unknown_key_attempts" SET "attempts" = "attempts" + 1 WHERE "ip" = '192.0.2.5'`);
    const write = t.ctx.database.write(plan);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await appTx;
    await write;
    expect((await stored('192.0.2.5'))[0].attempts).toBe(2n);

    // Now the writer thread holds it (a long plan) while the app writes.
    const long = new WritePlan();
    long.execute(Prisma.sql`UPDATE "unknown_key_attempts" SET "attempts" = "attempts" + 10 WHERE "ip" = '192.0.2.5'`);
    long.query(busy(2_000_000), () => undefined);
    const longWrite = t.ctx.database.write(long);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await t.ctx.database.transaction((tx) => tx.$executeRaw`UPDATE "unknown_key_attempts" SET "attempts" = "attempts" * 2 WHERE "ip" = '192.0.2.5'`);
    await longWrite;
    expect((await stored('192.0.2.5'))[0].attempts).toBe(24n);
  });

  it('closing the database waits for a write in flight', async () => {
    const own = await createTestContext('sqlite');
    const plan = new WritePlan();
    plan.execute(attempt('192.0.2.6', new Date()));
    plan.query(busy(2_000_000), () => undefined);
    let written = false;
    const write = own.ctx.database.write(plan).then(() => (written = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await own.ctx.database.close();
    expect(written).toBe(true);
    await write;
    // The file holds the write: read it through a new connection.
    const BetterSqlite3 = (await import('better-sqlite3')).default;
    const file = own.db.config.sqlitePath as string;
    const db = new BetterSqlite3(file, { readonly: true });
    expect(db.prepare(`SELECT COUNT(*) AS n FROM "unknown_key_attempts" WHERE "ip" = '192.0.2.6'`).get()).toEqual({ n: 1 });
    db.close();
    await own.close().catch(() => undefined);
  });

  it('tells its threads\' heaps (the process\'s own figures leave them out), the writer\'s young generation capped', async () => {
    const plan = new WritePlan();
    plan.execute(attempt('192.0.2.7', new Date()));
    await t.ctx.database.write(plan);
    await t.ctx.database.reads.all('SELECT 1 AS one', []);
    const heaps = await t.ctx.database.threadHeaps();
    expect(Object.keys(heaps).sort()).toEqual(['list reader', 'usage writer']);
    for (const heap of Object.values(heaps)) {
      expect(heap.usedBytes).toBeGreaterThan(0);
      expect(heap.totalBytes).toBeGreaterThanOrEqual(heap.usedBytes);
      expect(heap.youngBytes).toBeLessThanOrEqual(YOUNG_GENERATION_MB * 2 ** 20);
    }
  });

  (process.platform === 'linux' ? it : it.skip)("tells each thread's own CPU time: a long write runs on the writer's, not the app's", async () => {
    // Both threads started (whatever ran before), and each has answered: each tells its id first.
    const warm = new WritePlan();
    warm.query(busy(1), () => undefined);
    await t.ctx.database.write(warm);
    await t.ctx.database.reads.all('SELECT 1 AS "one"', []);
    await t.ctx.database.threadHeaps();
    const before = t.ctx.database.threadCpu();
    expect(Object.keys(before).sort()).toEqual(['list reader', 'usage writer']);
    const appBefore = process.cpuUsage();
    const plan = new WritePlan();
    plan.query(busy(3_000_000), () => undefined);
    const started = performance.now();
    await t.ctx.database.write(plan);
    const ms = performance.now() - started;
    const after = t.ctx.database.threadCpu();
    const writerMs = (after['usage writer'] - before['usage writer']) / 1000;
    // The statement kept the writer's thread busy for most of the write (a loaded machine may
    // preempt it), and not the reader's; the process's time (all threads) holds it too. The
    // reader may serve the app's own background reads meanwhile (a CI run saw 50 ms of reader
    // time against the write's 383, cause not pinned down), so its bound is half the writer's:
    // time told for the wrong thread would exceed it.
    expect(writerMs).toBeGreaterThan(ms / 3);
    expect(writerMs).toBeLessThanOrEqual(ms + 5);
    expect(after['list reader'] - before['list reader']).toBeLessThan(writerMs / 2);
    const app = process.cpuUsage(appBefore);
    expect((app.user + app.system) / 1000).toBeGreaterThanOrEqual(writerMs * 0.9);
  });

  (process.platform === 'linux' ? it : it.skip)("with statementCpu, tells the writer's CPU time in each statement, its rows, and the transactions' own", async () => {
    const created = await createSqliteDatabase();
    await migrate(created.config);
    const timed = openDatabase(created.config, { timeouts: t.ctx.config.databaseTimeouts, statementCpu: true });
    try {
      const day = new Date(Date.UTC(2026, 10, 30));
      // Three addresses inserted (one statement run for each), the first deleted again.
      const plan = (first: number) => {
        const ips = [first, first + 1, first + 2].map((n) => `192.0.2.${n}`);
        const p = new WritePlan();
        p.query(busy(1_000_000), () => undefined);
        p.executeRows(ips, (ip) => [day, ip, 1, day], {
          build: (values) => Prisma.sql`INSERT INTO "unknown_key_attempts" ("bucketStart", "ip", "attempts", "blockedAttempts", "lastSeenAt") SELECT * FROM (VALUES ${values}) AS v`,
          sqliteRow: 'INSERT INTO "unknown_key_attempts" ("bucketStart", "ip", "attempts", "blockedAttempts", "lastSeenAt") VALUES (?1, ?2, ?3, 0, ?4)',
        });
        p.execute(Prisma.sql`DELETE FROM "unknown_key_attempts" WHERE "ip" = ${ips[0]}`);
        return p;
      };
      const before = timed.threadCpu()['usage writer'] ?? 0;
      await timed.write(plan(31));
      const statements = await timed.writerStatementCpu();
      const writerMicros = timed.threadCpu()['usage writer'] - before;
      const of = (start: string) => statements.find((s) => s.sql.startsWith(start));
      const count = of('WITH RECURSIVE');
      const insert = of('INSERT INTO "unknown_key_attempts"');
      const remove = of('DELETE FROM "unknown_key_attempts"');
      const transaction = of('BEGIN IMMEDIATE');
      expect(statements).toHaveLength(4);
      expect(count).toMatchObject({ runs: 1, rows: 0 });
      expect(insert).toMatchObject({ runs: 1, rows: 3 });
      expect(remove).toMatchObject({ runs: 1, rows: 0 });
      expect(transaction).toMatchObject({ runs: 1, rows: 0 });
      // The counting statement holds most of the thread's time, and all of it fits in the thread's.
      expect(statements[0]).toBe(count);
      const total = statements.reduce((sum, s) => sum + s.cpuMicros, 0);
      expect(count!.cpuMicros).toBeGreaterThan(total / 2);
      expect(total).toBeLessThanOrEqual(writerMicros);
      // Each call tells what ran since the last: a second write adds to nothing older.
      expect(await timed.writerStatementCpu()).toEqual([]);
      await timed.write(plan(41));
      expect((await timed.writerStatementCpu()).find((s) => s.sql.startsWith('INSERT INTO "unknown_key_attempts"'))).toMatchObject({ runs: 1, rows: 3 });
      // Without the option nothing is counted.
      expect(await t.ctx.database.writerStatementCpu()).toEqual([]);
    } finally {
      await timed.close();
      await created.drop();
    }
  });
});
