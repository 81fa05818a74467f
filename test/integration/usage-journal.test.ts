/**
 * The usage journal (src/usage/usage-journal.ts) on a real database: batches of many keys are
 * appended, then folded, and what the tables hold afterwards is exactly what writing every batch
 * at once stores (the same events written both ways, compared row by row); rows another process
 * applied first are never applied twice; rows the database refuses at a fold are handled as any
 * refused usage; a usage reset while the key's usage waits in the journal holds.
 * SQLite always; PostgreSQL when TEST_DATABASE_URL is set. Process faults (SIGKILL, SIGSTOP past
 * the lease): usage-journal-faults.test.ts.
 */
import { parseConfig } from '../../src/config';
import { createContext } from '../../src/context';
import { writeUsageBatch } from '../../src/data/repositories/usage';
import { moveStrayStaged, moveStrayStagedRequestLog, strayStagedBatches } from '../../src/data/repositories/usage-journal';
import { createLogger } from '../../src/logger';
import { ActivityRetention } from '../../src/usage/retention';
import { UsageBuffer } from '../../src/usage/usage-buffer';
import { buildConfig, buildKeyInput, buildTenant, createTestContext, TEST_API_CONFIG, type TestContext, testActor } from '../helpers/context';
import pg from 'pg';
import { availableProviders, describePostgres, postgresAdminUrl } from '../helpers/databases';
import { buildRefusal, buildUsageEvent } from '../helpers/usage-events';

const NEVER = 3_600_000;
/**
 * Every batch of two keys or more goes through the journal, folds are written in parts of two keys
 * (the first part's write journals the others); nothing is written but when the test says.
 */
const JOURNAL_CONFIG = { api: { ...TEST_API_CONFIG, usageFlushIntervalMs: NEVER, usageFold: { intervalMs: NEVER, minKeys: 2, partKeys: 2 } } };

/** Usage columns and tables, every row of each (request-log ids and batch bookkeeping left out). */
const TABLES: Record<string, string> = {
  api_keys: 'SELECT "id", "tenantId", "requestsOk", "requestsFailed", "tokens", "spendMicroCents", "lastUsedAt", "budgetSpentMicroCents", "budgetPeriodStart" FROM "api_keys"',
  usage_hourly: 'SELECT * FROM "usage_hourly"',
  usage_daily: 'SELECT * FROM "usage_daily"',
  usage_key_monthly: 'SELECT * FROM "usage_key_monthly"',
  usage_key_window: 'SELECT * FROM "usage_key_window"',
  usage_tenant_daily: 'SELECT * FROM "usage_tenant_daily"',
  usage_tenant_outcomes_daily: 'SELECT * FROM "usage_tenant_outcomes_daily"',
  usage_outcomes_hourly: 'SELECT * FROM "usage_outcomes_hourly"',
  usage_outcomes_daily: 'SELECT * FROM "usage_outcomes_daily"',
  usage_models_daily: 'SELECT * FROM "usage_models_daily"',
  // lastSeenAt apart: see below.
  key_client_addresses: 'SELECT "keyId", "tenantId", "ip", "firstSeenAt", "requests" FROM "key_client_addresses"',
  unknown_key_attempts: 'SELECT * FROM "unknown_key_attempts"',
  request_log: 'SELECT "keyId", "tenantId", "at", "outcome", "status", "ip", "model", "tokens", "costMicroCents" FROM "request_log"',
};

const plain = (value: unknown): unknown => (value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? Number(value) : value);

describe.each(availableProviders)('usage journal on %s', (provider) => {
  let t: TestContext;
  beforeEach(async () => {
    t = await createTestContext(provider, { config: JOURNAL_CONFIG });
  });
  afterEach(async () => t.close());

  const count = async (table: string) => Number(((await t.ctx.database.prisma.$queryRawUnsafe(`SELECT COUNT(*) AS n FROM "${table}"`)) as { n: unknown }[])[0].n);
  const counters = async (ids: string[]) =>
    Promise.all(ids.map(async (id) => {
      const key = await t.ctx.database.prisma.apiKey.findUniqueOrThrow({ where: { id } });
      return { ok: Number(key.requestsOk), failed: Number(key.requestsFailed), tokens: Number(key.tokens) };
    }));

  /** Every usage row, with `rename`'s values replaced (one side's ids and addresses named as the other's). */
  async function usageRows(keep: (row: Record<string, unknown>) => boolean, rename: Map<unknown, unknown>) {
    const dump: Record<string, string[]> = {};
    for (const [table, sql] of Object.entries(TABLES)) {
      const rows = (await t.ctx.database.prisma.$queryRawUnsafe(sql)) as Record<string, unknown>[];
      dump[table] = rows
        .filter(keep)
        .map((row) => JSON.stringify(Object.fromEntries(Object.entries(row).map(([column, value]) => [column, rename.get(value) ?? plain(value)]))))
        .sort();
    }
    return dump;
  }

  it('stores exactly what writing every batch at once stores, once folded', async () => {
    const journalTenant = await buildTenant(t.ctx);
    const directTenant = await buildTenant(t.ctx);
    const make = (tenantId: string) => Promise.all([0, 1, 2, 3, 4].map(async (i) => (await t.ctx.keys.create(tenantId, buildKeyInput({ name: `k${i}` }), testActor)).apiKey.id));
    const journalKeys = await make(journalTenant.id);
    const directKeys = await make(directTenant.id);
    const direct = new UsageBuffer({ write: async (batch) => void (await writeUsageBatch(t.ctx.database, batch)) });

    // The same requests on both sides: several per key and round, admitted (ok, failed, with and
    // without a model and a budget) and refused, from two addresses, plus attempts naming no key.
    const now = Date.now();
    const budgetPeriod = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
    for (let round = 0; round < 3; round++) {
      for (const [side, keys, tenantId, net] of [
        [t.ctx.usage, journalKeys, journalTenant.id, '198.51.100.'],
        [direct, directKeys, directTenant.id, '192.0.2.'],
      ] as const) {
        keys.forEach((keyId, i) => {
          for (let n = 0; n <= (i + round) % 3; n++) {
            const at = now - 60_000 * (10 - round) + 1000 * n + i;
            const ip = `${net}${1 + ((i + n) % 2)}`;
            side.record(
              buildUsageEvent({ keyId, tenantId, at, ip, ok: (n + i) % 4 !== 3, model: n % 2 === 0 ? 'local-small' : null, tokens: 7 * (i + 1) + n, costMicroCents: 100 * n + i, budgetPeriodStart: i % 2 === 0 ? budgetPeriod : null }),
            );
          }
          if ((i + round) % 2 === 0) side.refused(buildRefusal(round === 1 ? 'rate_limited' : 'ip_not_allowed', { keyId, tenantId, at: now - 1000 * i, ip: `${net}9` }));
        });
        side.unknownKey({ ip: `${net}77`, at: now - 5000, blocked: round === 2 });
      }
      await t.ctx.usage.appendNow();
      await direct.flush();
    }

    // Appended, not folded: the journal holds the three batches, the keys' counters are untouched,
    // the request log is staged (every row of it, none in request_log yet).
    expect(await count('usage_journal')).toBe(3);
    expect(await counters(journalKeys)).toEqual(journalKeys.map(() => ({ ok: 0, failed: 0, tokens: 0 })));
    const logRows = (tenantId: string) => t.ctx.database.prisma.requestLog.count({ where: { tenantId } });
    const directLog = await logRows(directTenant.id);
    expect(directLog).toBeGreaterThan(0);
    expect(await logRows(journalTenant.id)).toBe(0);
    expect(await t.ctx.database.prisma.requestLogStaged.count({ where: { tenantId: journalTenant.id } })).toBe(directLog);
    expect(t.ctx.usage.foldingRequests()).toBeGreaterThan(0);

    await t.ctx.usage.foldNow();
    expect(await count('usage_journal')).toBe(0);
    expect(await count('request_log_staged')).toBe(0);
    expect(t.ctx.usage.isEmpty()).toBe(true);
    // Moved by the fold in key order: ids follow (keyId, at), so each key's rows were placed together.
    const moved = await t.ctx.database.prisma.requestLog.findMany({ where: { tenantId: journalTenant.id }, orderBy: { id: 'asc' } });
    expect(moved.length).toBe(directLog);
    const byKey = [...moved].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : a.at.getTime() - b.at.getTime() || Number(a.id - b.id)));
    expect(moved.map((row) => row.id)).toEqual(byKey.map((row) => row.id));
    const rename = new Map<unknown, unknown>([[directTenant.id, journalTenant.id], ...directKeys.map((id, i) => [id, journalKeys[i]] as const)]);
    for (const last of ['1', '2', '9', '77']) rename.set(`192.0.2.${last}`, `198.51.100.${last}`);
    const side = (tenantId: string, net: string) => (row: Record<string, unknown>) => row.tenantId === tenantId || (row.tenantId === undefined && String(row.ip).startsWith(net));
    const journaled = await usageRows(side(journalTenant.id, '198.51.100.'), new Map());
    const written = await usageRows(side(directTenant.id, '192.0.2.'), rename);
    expect(journaled.api_keys.length).toBe(5);
    expect(journaled.unknown_key_attempts.length).toBe(1);
    expect(journaled).toEqual(written);
    // A pair's lastSeenAt: written at once, it moves at most once a minute (of request time) per
    // process, so the last write can leave it up to a minute behind; folded, it is the pair's
    // last request, whatever the parts said (the pair's row is written once per fold either way).
    const addresses = await t.ctx.database.prisma.keyClientAddress.findMany({ where: { tenantId: journalTenant.id } });
    const log = await t.ctx.database.prisma.requestLog.findMany({ where: { tenantId: journalTenant.id } });
    for (const address of addresses) {
      const last = Math.max(...log.filter((row) => row.keyId === address.keyId && row.ip === address.ip).map((row) => row.at.getTime()));
      expect(address.lastSeenAt.getTime()).toBe(last);
    }
  });

  it('applies rows another process folded first only once: the rest is summed again and written', async () => {
    const tenant = await buildTenant(t.ctx);
    const keys = await Promise.all([0, 1, 2].map(async () => (await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)).apiKey.id));
    const burst = (requests: number) => {
      for (let n = 0; n < requests; n++) for (const keyId of keys) t.ctx.usage.record(buildUsageEvent({ keyId, tenantId: tenant.id, tokens: 1 }));
    };
    burst(1);
    await t.ctx.usage.appendNow();
    burst(2);
    await t.ctx.usage.appendNow();
    // This process's lease lapses (as if it had been paused): another one takes its two rows over.
    await t.ctx.database.prisma.usageJournalLease.updateMany({ data: { expiresAt: new Date(Date.now() - 1000) } });
    const other = createContext(buildConfig(t.db.config, JOURNAL_CONFIG), { logger: createLogger('silent'), alertWorkers: false, keyChangeFeed: false });
    try {
      await other.usage.foldNow();
    } finally {
      await other.close();
    }
    expect(await count('usage_journal')).toBe(0);
    expect(await counters(keys)).toEqual(keys.map(() => ({ ok: 3, failed: 0, tokens: 3 })));

    // This one resumes, appends a third row (its lease renewed) and folds all three it holds: the
    // DELETE comes up short, and only the third is written.
    burst(4);
    await t.ctx.usage.appendNow();
    await t.ctx.usage.foldNow();
    expect(await count('usage_journal')).toBe(0);
    expect(await counters(keys)).toEqual(keys.map(() => ({ ok: 7, failed: 0, tokens: 7 })));
    expect(t.ctx.usage.isEmpty()).toBe(true);
    // The request log too: each row moved once, by whichever process applied its batch.
    expect(await count('request_log_staged')).toBe(0);
    for (const keyId of keys) expect(await t.ctx.database.prisma.requestLog.count({ where: { keyId } })).toBe(7);
  });

  it('consumes the journal rows of a fold the database refuses, then writes every other key and sets the refused one aside', async () => {
    const tenant = await buildTenant(t.ctx);
    const keys = await Promise.all([0, 1, 2].map(async () => (await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)).apiKey.id));
    const refusedKey = keys[1];
    if (provider === 'postgresql') {
      await t.ctx.database.prisma.$executeRawUnsafe(`UPDATE "api_keys" SET "tokens" = 9223372036854775000 WHERE "id" = '${refusedKey}'`);
    } else {
      await t.ctx.database.prisma.$executeRawUnsafe(
        `CREATE TRIGGER "refuse_it" BEFORE UPDATE ON "api_keys" WHEN OLD."id" = '${refusedKey}' BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END`,
      );
    }
    for (const keyId of keys) t.ctx.usage.record(buildUsageEvent({ keyId, tenantId: tenant.id, tokens: 1000 }));
    await t.ctx.usage.appendNow();
    expect(await count('usage_journal')).toBe(1);

    await t.ctx.usage.foldNow();
    // The row is consumed at once (the batch became this process's own), the other keys written;
    // its request log moved with it (the log is not what the database refused).
    expect(await count('usage_journal')).toBe(0);
    expect(await count('request_log_staged')).toBe(0);
    expect(await t.ctx.database.prisma.requestLog.count({ where: { tenantId: tenant.id } })).toBe(3);
    const [good, , other] = await counters(keys);
    expect([good, other]).toEqual([{ ok: 1, failed: 0, tokens: 1000 }, { ok: 1, failed: 0, tokens: 1000 }]);
    expect(t.ctx.usage.isEmpty()).toBe(false);
    // Refused at two more folds: set aside, never written, and nothing else waits.
    await t.ctx.usage.foldNow();
    await t.ctx.usage.foldNow();
    expect(t.ctx.usage.isEmpty()).toBe(true);
    expect(await counters(keys)).toEqual([good, { ok: 0, failed: 0, tokens: provider === 'postgresql' ? 9223372036854775000 : 0 }, other]);
  });

  it('folds at once on a usage reset, without the counters from before it', async () => {
    const tenant = await buildTenant(t.ctx);
    const keys = await Promise.all([0, 1].map(async () => (await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)).apiKey.id));
    for (const keyId of keys) t.ctx.usage.record(buildUsageEvent({ keyId, tenantId: tenant.id, tokens: 5 }));
    await t.ctx.usage.appendNow();
    expect(await count('usage_journal')).toBe(1);
    await t.ctx.keys.resetUsage(tenant.id, keys[0], testActor);
    // The reset's fold runs on its own: wait for the journal to empty.
    for (let i = 0; i < 100 && (await count('usage_journal')) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    await t.ctx.usage.flush();
    expect(await count('usage_journal')).toBe(0);
    expect(await counters(keys)).toEqual([{ ok: 0, failed: 0, tokens: 0 }, { ok: 1, failed: 0, tokens: 5 }]);
    // History stays: the reset key's hourly rollup still has its request.
    const hourly = await t.ctx.database.prisma.usageHourly.findMany({ where: { keyId: keys[0] } });
    expect(hourly.map((h) => Number(h.requestsOk))).toEqual([1]);
  });

  it('renews its lease with each append, ends it on a clean stop, and prunes leases lapsed a day before', async () => {
    const tenant = await buildTenant(t.ctx);
    const keys = await Promise.all([0, 1].map(async () => (await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)).apiKey.id));
    for (const keyId of keys) t.ctx.usage.record(buildUsageEvent({ keyId, tenantId: tenant.id }));
    const before = Date.now();
    await t.ctx.usage.appendNow();
    const [lease] = await t.ctx.database.prisma.usageJournalLease.findMany();
    expect(lease.owner).toBe(t.ctx.usage.owner);
    // Two fold intervals plus 10 s.
    expect(lease.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 2 * NEVER + 10_000);
    const dayMs = 86_400_000;
    await t.ctx.database.prisma.usageJournalLease.create({ data: { owner: 'gone', expiresAt: new Date(Date.now() - 2 * dayMs) } });
    const pruned = await new ActivityRetention({ db: t.ctx.database.prisma, requestLogDays: 7 }).pruneOnce();
    expect(pruned.journalLeases).toBe(1);
    await t.ctx.usage.stop();
    expect(await count('usage_journal')).toBe(0);
    expect(await count('usage_journal_leases')).toBe(0);
  });

  it('moves request-log rows left staged by an earlier version (their journal row consumed without them) at a retention run, once', async () => {
    const tenant = await buildTenant(t.ctx);
    const keys = await Promise.all([0, 1, 2].map(async () => (await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)).apiKey.id));
    const burst = () => {
      for (const keyId of keys) t.ctx.usage.record(buildUsageEvent({ keyId, tenantId: tenant.id, tokens: 1 }));
    };
    burst();
    await t.ctx.usage.appendNow();
    const [consumed] = await t.ctx.database.prisma.usageJournal.findMany();
    burst();
    burst();
    await t.ctx.usage.appendNow();
    expect(await count('request_log_staged')).toBe(9);
    // A process of an earlier version folds the first row: it deletes the journal row and leaves
    // the staged rows (it wrote the log at append).
    await t.ctx.database.prisma.usageJournal.delete({ where: { id: consumed.id } });

    // Two processes sweep at once: both find the strays, one moves them, the other's move rolls
    // back. The six rows whose journal row is still there stay staged for its fold.
    const other = createContext(buildConfig(t.db.config, JOURNAL_CONFIG), { logger: createLogger('silent'), alertWorkers: false, keyChangeFeed: false });
    try {
      const found = await strayStagedBatches(t.ctx.database);
      expect(found).toEqual([{ batchId: consumed.id, rows: 3 }]);
      expect(await moveStrayStagedRequestLog(other.database)).toBe(3);
      expect(await moveStrayStaged(t.ctx.database, found)).toBe(0);
      // A retention run sweeps too: nothing is left to move.
      const pruned = await new ActivityRetention({ db: other.database.prisma, requestLogDays: 7, moveStrayStagedLog: () => moveStrayStagedRequestLog(other.database) }).pruneOnce();
      expect(pruned.strayStagedLog).toBe(0);
    } finally {
      await other.close();
    }
    const logged = await t.ctx.database.prisma.requestLog.findMany({ where: { tenantId: tenant.id } });
    expect(logged.map((row) => row.keyId).sort()).toEqual([...keys].sort());
    expect(await t.ctx.database.prisma.requestLogStaged.count({ where: { batchId: consumed.id } })).toBe(0);
    expect(await count('request_log_staged')).toBe(6);

    // The other row's fold moves its own rows (the first row's fold finds it gone: nothing of it is written twice).
    await t.ctx.usage.foldNow();
    expect(await count('request_log_staged')).toBe(0);
    expect(await t.ctx.database.prisma.requestLog.count({ where: { tenantId: tenant.id } })).toBe(9);
    expect(await counters(keys)).toEqual(keys.map(() => ({ ok: 2, failed: 0, tokens: 2 })));
  });

  it('writes a batch of fewer keys than the threshold at once, and nothing when folding is off', async () => {
    const tenant = await buildTenant(t.ctx);
    const [keyId] = await Promise.all([0].map(async () => (await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)).apiKey.id));
    t.ctx.usage.record(buildUsageEvent({ keyId, tenantId: tenant.id }));
    await t.ctx.usage.appendNow();
    expect(await count('usage_journal')).toBe(0);
    expect(await counters([keyId])).toEqual([{ ok: 1, failed: 0, tokens: 10 }]);
    expect(parseConfig({ USAGE_FOLD_INTERVAL_MS: '0' }).api.usageFold).toEqual({ intervalMs: 0, minKeys: 200 });
    expect(() => parseConfig({ USAGE_FOLD_INTERVAL_MS: '500' })).toThrow(/USAGE_FOLD_INTERVAL_MS/);
  });
});

describePostgres('usage journal when PostgreSQL ends the app\'s connections', () => {
  it('writes a fold whose connections were terminated at a later fold, exactly once', async () => {
    const t = await createTestContext('postgresql', { config: JOURNAL_CONFIG });
    const admin = new pg.Client({ connectionString: postgresAdminUrl });
    await admin.connect();
    try {
      const tenant = await buildTenant(t.ctx);
      const keys = await Promise.all([0, 1, 2].map(async () => (await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)).apiKey.id));
      for (let round = 0; round < 3; round++) {
        for (const keyId of keys) t.ctx.usage.record(buildUsageEvent({ keyId, tenantId: tenant.id, tokens: 1 }));
        await t.ctx.usage.appendNow();
      }
      // The fold starts, and every connection of the app's database is ended under it.
      const database = new URL(t.db.config.url as string).pathname.slice(1);
      const folding = t.ctx.usage.foldNow().catch(() => undefined);
      const { rows } = await admin.query('SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
      expect(rows.length).toBeGreaterThan(0);
      await folding;
      for (let attempt = 0; attempt < 20 && !t.ctx.usage.isEmpty(); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await t.ctx.usage.foldNow().catch(() => undefined);
      }
      expect(t.ctx.usage.isEmpty()).toBe(true);
      const stored = await t.ctx.database.prisma.apiKey.findMany({ where: { id: { in: keys } } });
      expect(stored.map((k) => [Number(k.requestsOk), Number(k.tokens)])).toEqual(keys.map(() => [3, 3]));
      expect(await t.ctx.database.prisma.usageJournal.count()).toBe(0);
    } finally {
      await admin.end();
      await t.close();
    }
  });
});
