/**
 * Storage of the visibility tables on SQLite and PostgreSQL: outcome and model rollups, request
 * log, client addresses and unknown-key attempts written with usage batches (atomic increments,
 * concurrent writers), cursor paging of the request log while rows keep arriving, retention
 * pruning in bounded batches, and the tenant-wide reads.
 */
import { writeUsageBatch } from '../../src/data/repositories/usage';
import { ActivityRetention } from '../../src/usage/retention';
import { decodeCursor, requestLogPage, unknownKeyAttempts } from '../../src/usage/request-activity';
import { keyOutcomeReport, tenantOutcomeSeries } from '../../src/usage/outcome-report';
import { tenantUsage } from '../../src/usage/tenant-usage';
import { emptyUsageBatch, type RequestLogRow, type UsageBatch } from '../../src/usage/usage-batch';
import type { RequestOutcome } from '../../packages/guard/src/usage/usage-types';
import { availableProviders } from '../helpers/databases';
import { buildKeyInput, buildTenant, buildUser, createTestContext, type TestContext, testActor } from '../helpers/context';

const DAY_MS = 86_400_000;
const now = Date.now();
const today = now - (now % DAY_MS);
const thisHour = now - (now % 3_600_000);

function logRow(keyId: string, tenantId: string, at: number, overrides: Partial<RequestLogRow> = {}): RequestLogRow {
  return {
    keyId,
    tenantId,
    at,
    outcome: 'ok',
    status: 200,
    ip: '203.0.113.7',
    model: 'local-small',
    chatbot: null,
    tokens: 10,
    costMicroCents: 15_780,
    latencyMs: 4,
    requestId: 'r',
    userAgent: 'test',
    ...overrides,
  };
}

/** A batch of `counts` requests of one key now (outcome -> n), with their log rows and addresses. */
function mixBatch(keyId: string, tenantId: string, counts: Partial<Record<RequestOutcome, number>>, ip = '203.0.113.7'): UsageBatch {
  const batch = emptyUsageBatch();
  let total = 0;
  for (const [outcome, n] of Object.entries(counts) as [RequestOutcome, number][]) {
    batch.outcomesHourly.push({ keyId, tenantId, bucketStart: thisHour, outcome, requests: n });
    batch.outcomesDaily.push({ keyId, tenantId, bucketStart: today, outcome, requests: n });
    for (let i = 0; i < n; i++) batch.requestLog.push(logRow(keyId, tenantId, now, { outcome, ip }));
    total += n;
  }
  if (counts.ok) {
    batch.models.push({ keyId, tenantId, bucketStart: today, model: 'local-small', outcome: 'ok', requests: counts.ok, tokens: 10 * counts.ok, spendMicroCents: 15_780 * counts.ok });
    batch.daily.push({ keyId, tenantId, bucketStart: today, requestsOk: counts.ok, requestsFailed: 0, tokens: 10 * counts.ok, spendMicroCents: 15_780 * counts.ok });
  }
  batch.clientAddresses.push({ keyId, tenantId, ip, firstSeenAt: now - 1000, lastSeenAt: now, requests: total });
  return batch;
}

describe.each(availableProviders)('request visibility storage on %s', (provider) => {
  let t: TestContext;
  let tenantId: string;
  const db = () => t.ctx.database.prisma;
  const newKey = async () => (await t.ctx.keys.create(tenantId, buildKeyInput(), testActor)).apiKey.id;

  beforeAll(async () => {
    t = await createTestContext(provider);
    tenantId = (await buildTenant(t.ctx)).id;
  });
  afterAll(async () => t.close());

  it('adds outcome counts, model spend and addresses atomically, also from concurrent batches', async () => {
    const id = await newKey();
    await writeUsageBatch(t.ctx.database, mixBatch(id, tenantId, { ok: 2, rate_limited: 1 }));
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => writeUsageBatch(t.ctx.database, mixBatch(id, tenantId, { ok: 1, model_not_allowed: 1 }, i % 2 ? '10.0.0.1' : '203.0.113.7'))),
    );
    const report = await keyOutcomeReport(db(), id, now);
    expect(report.last30Days).toMatchObject({ ok: 10, rate_limited: 1, model_not_allowed: 8, failed: 0 });
    expect(report.hourly[23].outcomes).toMatchObject({ ok: 10, rate_limited: 1, model_not_allowed: 8 });
    expect(report.topRefusals).toEqual([
      { outcome: 'model_not_allowed', requests: 8 },
      { outcome: 'rate_limited', requests: 1 },
    ]);
    expect(report.models).toEqual([{ model: 'local-small', requests: 10, tokens: 100, spendMicroCents: 157_800 }]);
    const addresses = await t.ctx.database.prisma.keyClientAddress.findMany({ where: { keyId: id }, orderBy: { ip: 'asc' } });
    expect(addresses.map((a) => [a.ip, Number(a.requests)])).toEqual([
      ['10.0.0.1', 8],
      ['203.0.113.7', 11],
    ]);
    expect(await t.ctx.database.prisma.requestLog.count({ where: { keyId: id } })).toBe(19);
  });

  it('writes a burst of request-log rows in a few statements (1,000 rows each), every row kept', async () => {
    const id = await newKey();
    const batch = emptyUsageBatch();
    for (let i = 0; i < 2500; i++) batch.requestLog.push(logRow(id, tenantId, now - i, { requestId: `burst-${i}` }));
    await writeUsageBatch(t.ctx.database, batch);
    expect(await t.ctx.database.prisma.requestLog.count({ where: { keyId: id } })).toBe(2500);
    const page = await requestLogPage(db(), tenantId, id, { limit: 3 });
    expect(page.rows.map((r) => r.requestId)).toEqual(['burst-0', 'burst-1', 'burst-2']);
  });

  it('keeps the earliest first-seen and latest last-seen time of an address, and adds unknown-key attempts', async () => {
    const id = await newKey();
    const batch = (first: number, last: number) => ({
      ...emptyUsageBatch(),
      clientAddresses: [{ keyId: id, tenantId, ip: '192.0.2.9', firstSeenAt: first, lastSeenAt: last, requests: 1 }],
      unknownKeys: [{ ip: '192.0.2.66', bucketStart: today, attempts: 2, blockedAttempts: 1, lastSeenAt: last }],
    });
    await writeUsageBatch(t.ctx.database, batch(now - 5000, now - 4000));
    await writeUsageBatch(t.ctx.database, batch(now - 9000, now - 8000));
    await writeUsageBatch(t.ctx.database, batch(now - 3000, now - 1000));
    const [address] = await t.ctx.database.prisma.keyClientAddress.findMany({ where: { keyId: id } });
    expect([address.firstSeenAt.getTime(), address.lastSeenAt.getTime(), Number(address.requests)]).toEqual([now - 9000, now - 1000, 3]);
    const attempts = await unknownKeyAttempts(db(), { now });
    expect(attempts.find((a) => a.ip === '192.0.2.66')).toEqual({ ip: '192.0.2.66', attempts: 6, blockedAttempts: 3, lastSeenAt: new Date(now - 1000) });
  });

  it('leaves the stored last-seen time of a pair marked keepLastSeen (counts and first-seen still move), and still inserts a new one', async () => {
    const id = await newKey();
    const pair = (ip: string, first: number, last: number, keepLastSeen?: boolean) => ({ keyId: id, tenantId, ip, firstSeenAt: first, lastSeenAt: last, requests: 2, ...(keepLastSeen ? { keepLastSeen } : {}) });
    const first = await writeUsageBatch(t.ctx.database, { ...emptyUsageBatch(), clientAddresses: [pair('192.0.2.20', now - 5000, now - 4000)] });
    expect(first.newClientAddresses.map((a) => a.ip)).toEqual(['192.0.2.20']);
    const second = await writeUsageBatch(t.ctx.database, {
      ...emptyUsageBatch(),
      clientAddresses: [pair('192.0.2.20', now - 6000, now - 1000, true), pair('192.0.2.21', now - 3000, now - 2000, true), pair('192.0.2.22', now - 3000, now - 500)],
    });
    // New pairs are found in both statements; a new pair marked to keep its time gets it all the same.
    expect(second.newClientAddresses.map((a) => a.ip).sort()).toEqual(['192.0.2.21', '192.0.2.22']);
    const stored = await t.ctx.database.prisma.keyClientAddress.findMany({ where: { keyId: id }, orderBy: { ip: 'asc' } });
    expect(stored.map((a) => [a.ip, a.firstSeenAt.getTime(), a.lastSeenAt.getTime(), Number(a.requests)])).toEqual([
      ['192.0.2.20', now - 6000, now - 4000, 4],
      ['192.0.2.21', now - 3000, now - 2000, 2],
      ['192.0.2.22', now - 3000, now - 500, 2],
    ]);
  });

  it('pages a key\'s log newest first with a cursor: no duplicates, no gaps, while rows keep arriving', async () => {
    const id = await newKey();
    const other = await newKey();
    const base = now - 60_000;
    // 120 rows over 40 distinct times (ties on `at` are broken by id), and another key's rows.
    const initial = emptyUsageBatch();
    for (let i = 0; i < 120; i++) initial.requestLog.push(logRow(id, tenantId, base + Math.floor(i / 3) * 10, { requestId: `initial-${i}` }));
    for (let i = 0; i < 20; i++) initial.requestLog.push(logRow(other, tenantId, base + i));
    await writeUsageBatch(t.ctx.database, initial);

    const seen: string[] = [];
    const positions: [number, bigint][] = [];
    let cursor: string | null = null;
    let arrivals = 0;
    do {
      const page = await requestLogPage(db(), tenantId, id, { limit: 7, cursor: cursor ? (decodeCursor(cursor) ?? undefined) : undefined });
      for (const row of page.rows) {
        seen.push(row.requestId as string);
        positions.push([row.at.getTime(), row.id]);
      }
      cursor = page.nextCursor;
      // Meanwhile: new requests (later times), and a late batch from another instance with times
      // inside the range already paged and still to page.
      arrivals += 1;
      const late = emptyUsageBatch();
      late.requestLog.push(logRow(id, tenantId, now + arrivals, { requestId: `new-${arrivals}` }));
      late.requestLog.push(logRow(id, tenantId, base + (arrivals % 40) * 10, { requestId: `late-${arrivals}` }));
      await writeUsageBatch(t.ctx.database, late);
    } while (cursor);

    expect(new Set(seen).size).toBe(seen.length);
    const initialSeen = seen.filter((r) => r.startsWith('initial-'));
    expect(initialSeen.sort()).toEqual(Array.from({ length: 120 }, (_, i) => `initial-${i}`).sort());
    for (let i = 1; i < positions.length; i++) {
      const [at, rowId] = positions[i];
      const [prevAt, prevId] = positions[i - 1];
      expect(at < prevAt || (at === prevAt && rowId < prevId)).toBe(true);
    }
  });

  it('filters the log by outcome, address and time range, inside the key\'s tenant only', async () => {
    const id = await newKey();
    const batch = emptyUsageBatch();
    batch.requestLog.push(
      logRow(id, tenantId, now - 3000, { outcome: 'rate_limited', status: 429 }),
      logRow(id, tenantId, now - 2000, { ip: '10.9.9.9' }),
      logRow(id, tenantId, now - 1000, { model: null, chatbot: 'bot "7"', requestId: null, userAgent: null, costMicroCents: 2 ** 40 }),
    );
    await writeUsageBatch(t.ctx.database, batch);
    const page = (filters: Parameters<typeof requestLogPage>[3], tenant = tenantId) => requestLogPage(db(), tenant, id, filters);
    expect((await page({ limit: 10, outcome: 'rate_limited' })).rows.map((r) => r.status)).toEqual([429]);
    expect((await page({ limit: 10, ip: '10.9.9.9' })).rows.map((r) => r.at.getTime())).toEqual([now - 2000]);
    expect((await page({ limit: 10, from: new Date(now - 2500), to: new Date(now - 1000) })).rows.map((r) => r.at.getTime())).toEqual([now - 2000]);
    expect((await page({ limit: 10 }, 'another-tenant')).rows).toEqual([]);
    const [newest] = (await page({ limit: 1 })).rows;
    expect(newest).toMatchObject({ at: new Date(now - 1000), model: null, chatbot: 'bot "7"', requestId: null, userAgent: null, costMicroCents: 2 ** 40, status: 200 });
  });

  it('prunes the request log past retention oldest id first in bounded batches, and addresses and attempts after 90 days', async () => {
    // The log holds only this test's rows: pruning reads the oldest ids of the whole table.
    await db().requestLog.deleteMany({});
    const id = await newKey();
    const old = now - 8 * DAY_MS;
    const batch = emptyUsageBatch();
    for (let i = 0; i < 10; i++) batch.requestLog.push(logRow(id, tenantId, old + i));
    for (let i = 0; i < 4; i++) batch.requestLog.push(logRow(id, tenantId, now - i));
    batch.clientAddresses.push(
      { keyId: id, tenantId, ip: '10.1.1.1', firstSeenAt: now - 100 * DAY_MS, lastSeenAt: now - 91 * DAY_MS, requests: 1 },
      { keyId: id, tenantId, ip: '10.1.1.2', firstSeenAt: now - 100 * DAY_MS, lastSeenAt: now - DAY_MS, requests: 1 },
    );
    batch.unknownKeys.push(
      { ip: '192.0.2.200', bucketStart: today - 91 * DAY_MS, attempts: 1, blockedAttempts: 0, lastSeenAt: today - 91 * DAY_MS },
      { ip: '192.0.2.201', bucketStart: today - 89 * DAY_MS, attempts: 1, blockedAttempts: 0, lastSeenAt: today - 89 * DAY_MS },
    );
    await writeUsageBatch(t.ctx.database, batch);
    // Written late (a batch held through an outage): its id follows the rows inside retention.
    const late = emptyUsageBatch();
    late.requestLog.push(logRow(id, tenantId, old - 1, { requestId: 'late' }));
    await writeUsageBatch(t.ctx.database, late);
    const left = async () => (await db().requestLog.findMany({ where: { keyId: id }, orderBy: { id: 'asc' } })).map((r) => (r.requestId === 'late' ? 'late' : r.at.getTime()));

    // 2 statements of 3 rows at most per run: the rest waits for the next run.
    const retention = new ActivityRetention({ db: db(), requestLogDays: 7, batchSize: 3, maxBatches: 2, now: () => now });
    expect(await retention.pruneOnce()).toMatchObject({ requestLog: 6, clientAddresses: 1 });
    expect(await left()).toEqual([old + 6, old + 7, old + 8, old + 9, now - 3, now - 2, now - 1, now, 'late']);
    // The second statement reaches a row inside retention: the run ends there.
    expect((await retention.pruneOnce()).requestLog).toBe(4);
    expect((await retention.pruneOnce()).requestLog).toBe(0);
    expect(await left()).toEqual([now - 3, now - 2, now - 1, now, 'late']);
    expect((await db().keyClientAddress.findMany({ where: { keyId: id } })).map((a) => a.ip)).toEqual(['10.1.1.2']);
    const ips = (await db().unknownKeyAttempt.findMany({ where: { ip: { startsWith: '192.0.2.20' } } })).map((u) => u.ip);
    expect(ips).toEqual(['192.0.2.201']);
    // The late row goes once the rows written before it have aged out.
    const later = new ActivityRetention({ db: db(), requestLogDays: 7, batchSize: 3, maxBatches: 2, now: () => now + 8 * DAY_MS });
    expect((await later.pruneOnce()).requestLog).toBe(5);
    expect(await left()).toEqual([]);
  });

  it('prunes the request log through its primary key: no index on the time is kept for it', async () => {
    const indexes =
      provider === 'sqlite'
        ? (await db().$queryRawUnsafe<{ name: string }[]>(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_log'`)).map((r) => r.name)
        : (await db().$queryRawUnsafe<{ indexname: string }[]>(`SELECT indexname FROM pg_indexes WHERE tablename = 'request_log'`)).map((r) => r.indexname);
    expect(indexes.filter((name) => !name.startsWith('sqlite_autoindex')).sort()).toEqual(
      provider === 'sqlite' ? ['request_log_keyId_at_id_idx'] : ['request_log_keyId_at_id_idx', 'request_log_pkey'],
    );
    if (provider === 'sqlite') {
      const plan = await db().$queryRawUnsafe<{ detail: string }[]>(
        `EXPLAIN QUERY PLAN DELETE FROM "request_log" WHERE "id" IN (SELECT "id" FROM (SELECT "id", "at" FROM "request_log" ORDER BY "id" LIMIT 5000) AS "oldest" WHERE "at" < '2026-01-01')`,
      );
      // The oldest ids are read in order from the table itself: no sort, no scan of an index on time.
      expect(plan.map((row) => row.detail).join(' | ')).not.toMatch(/TEMP B-TREE|request_log_at/);
    }
  });

  it('prunes webhook deliveries that ended more than 30 days ago, and keeps pending ones and their alerts', async () => {
    const tenant = (await buildTenant(t.ctx)).id;
    // A literal public address: no name to resolve (the suite runs offline).
    await t.ctx.webhooks.create(tenant, { url: 'https://93.184.216.34/hooks', events: ['key.revoked'] }, testActor);
    for (const n of [1, 2, 3]) await t.ctx.alerts.raise({ tenantId: tenant, type: 'key.revoked', dedupKey: `prune-test:${n}`, data: { tenantId: tenant } });
    const deliveries = await t.ctx.database.prisma.webhookDelivery.findMany({ where: { webhook: { tenantId: tenant } }, orderBy: { createdAt: 'asc' } });
    expect(deliveries).toHaveLength(3);
    const longAgo = new Date(now - 31 * DAY_MS);
    await t.ctx.database.prisma.webhookDelivery.update({ where: { id: deliveries[0].id }, data: { status: 'delivered', lastAttemptAt: longAgo } });
    await t.ctx.database.prisma.webhookDelivery.update({ where: { id: deliveries[1].id }, data: { status: 'failed', lastAttemptAt: new Date(now - DAY_MS) } });
    await t.ctx.database.prisma.webhookDelivery.update({ where: { id: deliveries[2].id }, data: { status: 'pending', lastAttemptAt: longAgo } });
    const retention = new ActivityRetention({ db: db(), requestLogDays: 7, now: () => now });
    expect((await retention.pruneOnce()).webhookDeliveries).toBe(1);
    const left = await t.ctx.database.prisma.webhookDelivery.findMany({ where: { webhook: { tenantId: tenant } } });
    expect(left.map((d) => d.id).sort()).toEqual([deliveries[1].id, deliveries[2].id].sort());
    expect(await t.ctx.database.prisma.alert.count({ where: { tenantId: tenant } })).toBe(3);
  });

  it('reads tenant-wide usage by day, key (deleted keys by id, without a name) and model, and outcome series', async () => {
    const tenantRecord = await buildTenant(t.ctx);
    const tenant = tenantRecord.id;
    const owner = await buildUser(t.ctx, tenantRecord);
    const kept = (await t.ctx.keys.create(tenant, buildKeyInput({ name: 'kept', ownerId: owner.id }), testActor)).apiKey.id;
    const gone = (await t.ctx.keys.create(tenant, buildKeyInput({ name: 'gone' }), testActor)).apiKey.id;
    await writeUsageBatch(t.ctx.database, mixBatch(kept, tenant, { ok: 3, budget_exceeded: 2 }));
    await writeUsageBatch(t.ctx.database, mixBatch(gone, tenant, { ok: 1, key_revoked: 4 }));
    await t.ctx.keys.delete(tenant, gone, testActor);
    const range = { from: today - 6 * DAY_MS, to: today };

    const days = await tenantUsage(t.ctx.database, tenant, { ...range, groupBy: 'day' });
    expect(days).toHaveLength(7);
    expect(days[6]).toMatchObject({ date: new Date(today).toISOString().slice(0, 10), requests: 10, tokens: 40, spendMicroCents: 4 * 15_780 });
    expect(days[6].outcomes).toMatchObject({ ok: 4, budget_exceeded: 2, key_revoked: 4, failed: 0 });
    expect(days[0].requests).toBe(0);

    const keys = await tenantUsage(t.ctx.database, tenant, { ...range, groupBy: 'key' });
    // Most requests first; equal requests: most spend first.
    expect(keys.map((k) => [k.keyId, k.keyName, k.requests, k.outcomes.ok])).toEqual([
      [kept, 'kept', 5, 3],
      [gone, null, 5, 1],
    ]);
    const models = await tenantUsage(t.ctx.database, tenant, { ...range, groupBy: 'model' });
    expect(models).toEqual([expect.objectContaining({ model: 'local-small', requests: 4, tokens: 40, spendMicroCents: 4 * 15_780 })]);
    expect(models[0].outcomes.ok).toBe(4);
    expect(await tenantUsage(t.ctx.database, tenant, { from: today - 30 * DAY_MS, to: today - DAY_MS, groupBy: 'key' })).toEqual([]);

    const series = await tenantOutcomeSeries(t.ctx.database, tenant, { now });
    expect(series).toHaveLength(30);
    expect(series[29]).toMatchObject({ start: new Date(today), requests: 10, refused: 6 });
    const owned = await tenantOutcomeSeries(t.ctx.database, tenant, { ownerId: owner.id, now });
    expect(owned[29].outcomes).toMatchObject({ ok: 3, budget_exceeded: 2, key_revoked: 0 });
  });
});
