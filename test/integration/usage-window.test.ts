/**
 * The per-key window of the last 30 days (src/data/repositories/usage-window.ts) against the
 * daily rows it is kept from: after every batch and every roll (a day, several days, a rebuild),
 * the top keys read from the window equal the top keys summed from the daily rows, with their
 * outcome counts, including late deltas (a day that has left the window), early ones (a day the
 * window has not reached), batches across midnight, ties ranked by id as text, and batches written
 * while a roll runs.
 */
import { dayStart, REQUEST_OUTCOMES, type RequestOutcome } from '@keyward/guard';
import request from 'supertest';
import { writeUsageBatch } from '../../src/data/repositories/usage';
import { keysOutcomeCounts, tenantTopKeys } from '../../src/data/repositories/outcomes';
import { readWindowState, rollUsageWindow, WINDOW_DAYS, windowTopKeys, windowTopKeysJson } from '../../src/data/repositories/usage-window';
import { presentUsageRow } from '../../src/presenters/activity-presenter';
import { emptyUsageBatch, type OutcomeDelta, type RollupDelta, type UsageBatch } from '../../src/usage/usage-batch';
import fc from 'fast-check';
import pg from 'pg';
import { availableProviders, describePostgres } from '../helpers/databases';
import { buildKeyInput, buildTenant, createTestContext, type TestContext, testActor } from '../helpers/context';
import { createTestApp } from '../helpers/app';

const DAY_MS = 86_400_000;
const START = Date.UTC(2026, 2, 1);

/** A small deterministic generator (mulberry32), so a failure replays. */
function generator(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(list: readonly T[]) => list[Math.floor(next() * list.length)] };
}

type Rng = ReturnType<typeof generator>;

/** A batch of `count` deltas for `keys` on the given days (small counts: ties are common). */
function randomBatch(rng: Rng, keys: { keyId: string; tenantId: string }[], days: number[], count: number): UsageBatch {
  const daily: RollupDelta[] = [];
  const outcomes = new Map<string, OutcomeDelta>();
  for (let i = 0; i < count; i++) {
    const { keyId, tenantId } = rng.pick(keys);
    const bucketStart = rng.pick(days);
    const outcome = rng.pick<RequestOutcome>(['ok', 'ok', 'failed', ...REQUEST_OUTCOMES]);
    const requests = 1 + rng.int(2);
    const id = `${keyId} ${bucketStart} ${outcome}`;
    const existing = outcomes.get(id);
    if (existing) existing.requests += requests;
    else outcomes.set(id, { keyId, tenantId, bucketStart, outcome, requests });
    const admitted = outcome === 'ok' || outcome === 'failed';
    const tokens = admitted ? rng.int(3) * 10 : 0;
    daily.push({ keyId, tenantId, bucketStart, requestsOk: outcome === 'ok' ? requests : 0, requestsFailed: outcome === 'failed' ? requests : 0, tokens, spendMicroCents: tokens * 2 });
  }
  // One delta per key and day, as the buffer sends them.
  const merged = new Map<string, RollupDelta>();
  for (const d of daily) {
    const id = `${d.keyId} ${d.bucketStart}`;
    const m = merged.get(id);
    if (!m) merged.set(id, { ...d });
    else {
      m.requestsOk += d.requestsOk;
      m.requestsFailed += d.requestsFailed;
      m.tokens += d.tokens;
      m.spendMicroCents += d.spendMicroCents;
    }
  }
  return { ...emptyUsageBatch(), daily: [...merged.values()], outcomesDaily: [...outcomes.values()] };
}

describe.each(availableProviders)('the usage window on %s', (provider) => {
  let t: TestContext;
  let tenants: string[];
  let keys: { keyId: string; tenantId: string }[];

  beforeAll(async () => {
    t = await createTestContext(provider);
    // The app's roller works on the real day; these tests move the window themselves.
    await t.ctx.usageWindow.rollOnce();
    await t.ctx.usageWindow.stop();
    tenants = [(await buildTenant(t.ctx)).id, (await buildTenant(t.ctx)).id];
    // Ids whose order differs between code units and a linguistic collation (upper before lower case).
    const ids = ['key-B', 'key-a', 'key-b', 'Key-A', 'key-_', 'key-0', 'KEY-z', 'key-Z'];
    keys = ids.flatMap((id, i) => [{ keyId: `${id}-${i}-t0`, tenantId: tenants[0] }, ...(i < 4 ? [{ keyId: `${id}-${i}-t1`, tenantId: tenants[1] }] : [])]);
  });
  afterAll(async () => {
    await t.close();
  });

  const resetWindow = () =>
    t.ctx.database.prisma.usageWindowState.update({ where: { id: 1 }, data: { startDay: new Date(0), endDay: new Date(0) } });

  /** The window rebuilt to end `days` after START: its last day (`today`) and its first. */
  async function windowEndingAt(days: number): Promise<{ today: number; first: number }> {
    await resetWindow();
    const today = START + days * DAY_MS;
    await rollUsageWindow(t.ctx.database, today);
    return { today, first: today - (WINDOW_DAYS - 1) * DAY_MS };
  }

  const keyNamed = async (tenantId: string, name: string) => (await t.ctx.keys.create(tenantId, buildKeyInput({ name }), testActor)).apiKey.id;

  /** Window vs daily rows, for every tenant, cut at `limit` keys. */
  async function expectWindowMatchesRows(limit: number): Promise<void> {
    const { startDay, endDay } = await readWindowState(t.ctx.database);
    for (const tenantId of tenants) {
      const window = await windowTopKeys(t.ctx.database, tenantId, startDay, endDay, limit);
      expect(window).not.toBeNull();
      const top = await tenantTopKeys(t.ctx.database, tenantId, new Date(startDay), new Date(endDay + DAY_MS), limit);
      expect(window?.map(({ keyId, requests, tokens, spendMicroCents }) => ({ keyId, requests, tokens, spendMicroCents }))).toEqual(top);
      const counts = (rows: { keyId: string; outcome: string; requests: number }[]) =>
        Object.fromEntries(rows.filter((r) => r.requests !== 0).map((r) => [`${r.keyId} ${r.outcome}`, r.requests]));
      const summed = await keysOutcomeCounts(t.ctx.database, top.map((k) => k.keyId), new Date(startDay), new Date(endDay + DAY_MS));
      const kept = (window ?? []).flatMap((key) => Object.entries(key.outcomes).map(([outcome, requests]) => ({ keyId: key.keyId, outcome, requests })));
      expect(counts(kept)).toEqual(counts(summed));
    }
  }

  it('equals the daily rows through batches (late, early, across midnight) and rolls of one day, several days and a rebuild', async () => {
    await resetWindow();
    const rng = generator(provider === 'sqlite' ? 7 : 11);
    expect(await rollUsageWindow(t.ctx.database, START)).toBe('rebuilt');
    let today = START;
    // Day steps: mostly one day, sometimes two or three, once ten (a rebuild).
    const steps = [1, 1, 2, 1, 1, 3, 1, 1, 1, 10, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    let checked = 0;
    for (const step of steps) {
      // Batches of the days around today: yesterday's late rows, today's, tomorrow's (before the roll reaches it), one long gone.
      for (let b = 0; b < 3; b++) {
        const days = [today - DAY_MS, today, today, today + DAY_MS, today - WINDOW_DAYS * DAY_MS, today - (WINDOW_DAYS - 1) * DAY_MS];
        await writeUsageBatch(t.ctx.database, randomBatch(rng, keys, days, 12));
      }
      await expectWindowMatchesRows(5);
      today += step * DAY_MS;
      expect(await rollUsageWindow(t.ctx.database, today)).toBe(step > 7 ? 'rebuilt' : 'rolled');
      expect(await readWindowState(t.ctx.database)).toEqual({ startDay: today - (WINDOW_DAYS - 1) * DAY_MS, endDay: today });
      await expectWindowMatchesRows(5);
      await expectWindowMatchesRows(100);
      checked += 1;
    }
    expect(checked).toBe(steps.length);
    // Every day has been rolled out at least once: keys with nothing left in the window have no rows.
    const inWindow = await t.ctx.database.prisma.usageKeyWindow.count();
    const listed = (await Promise.all(tenants.map((id) => windowTopKeys(t.ctx.database, id, today - (WINDOW_DAYS - 1) * DAY_MS, today, 1000)))).reduce((n, w) => n + (w?.length ?? 0), 0);
    expect(inWindow).toBe(listed);
  });

  it('stays exact when batches are written while a roll runs, and several rolls at once roll once', async () => {
    await resetWindow();
    const rng = generator(3);
    let today = START + 100 * DAY_MS;
    await rollUsageWindow(t.ctx.database, today);
    for (let round = 0; round < 4; round++) {
      const days = [today - (WINDOW_DAYS - 1) * DAY_MS, today, today + DAY_MS];
      for (let b = 0; b < 2; b++) await writeUsageBatch(t.ctx.database, randomBatch(rng, keys, days, 20));
      today += DAY_MS;
      const batches = Array.from({ length: 6 }, () => writeUsageBatch(t.ctx.database, randomBatch(rng, keys, [today - DAY_MS, today, today + DAY_MS], 15)));
      const rolls = [rollUsageWindow(t.ctx.database, today), rollUsageWindow(t.ctx.database, today)];
      await Promise.all(batches);
      // Whichever rolls second finds the state moved (before reading it, or in each statement) and changes nothing.
      await Promise.all(rolls);
      await expectWindowMatchesRows(6);
    }
  });

  /** One request of `outcome` for each key on `day`, as a batch carries it (a refusal writes no usage row). */
  function requestsOn(day: number, keyIds: string[], tenantId: string, outcome: RequestOutcome = 'ok'): UsageBatch {
    const admitted = outcome === 'ok';
    return {
      ...emptyUsageBatch(),
      daily: admitted ? keyIds.map((keyId) => ({ keyId, tenantId, bucketStart: day, requestsOk: 1, requestsFailed: 0, tokens: 1, spendMicroCents: 1 })) : [],
      outcomesDaily: keyIds.map((keyId) => ({ keyId, tenantId, bucketStart: day, outcome, requests: 1 })),
    };
  }

  const namesIn = async (tenantId: string, first: number, today: number) =>
    Object.fromEntries(((await windowTopKeys(t.ctx.database, tenantId, first, today, 1000)) ?? []).map((k) => [k.keyId, k.keyName]));

  it('names each key as it is now: renamed, deleted, entering by a batch, by a day step and by a rebuild', async () => {
    const tenantId = tenants[0];
    const { today, first } = await windowEndingAt(300);
    const make = (name: string) => keyNamed(tenantId, name);
    const [renamed, deleted, stepped] = [await make('before'), await make('deleted'), await make('stepped')];
    // Into the window by a batch (one admitted, one refused only); `stepped` on tomorrow, not yet in it.
    await writeUsageBatch(t.ctx.database, requestsOn(today, [renamed], tenantId));
    await writeUsageBatch(t.ctx.database, requestsOn(today - DAY_MS, [deleted], tenantId, 'rate_limited'));
    await writeUsageBatch(t.ctx.database, requestsOn(today + DAY_MS, [stepped], tenantId));
    expect(await namesIn(tenantId, first, today)).toMatchObject({ [renamed]: 'before', [deleted]: 'deleted' });
    await t.ctx.keys.update(tenantId, renamed, { name: 'after' }, testActor);
    await t.ctx.keys.delete(tenantId, deleted, testActor);
    const named = { [renamed]: 'after', [deleted]: null };
    expect(await namesIn(tenantId, first, today)).toMatchObject(named);
    // A later batch for a row that exists keeps the name as the triggers left it.
    await writeUsageBatch(t.ctx.database, requestsOn(today, [renamed, deleted], tenantId));
    expect(await namesIn(tenantId, first, today)).toMatchObject(named);
    expect(await rollUsageWindow(t.ctx.database, today + DAY_MS)).toBe('rolled');
    expect(await namesIn(tenantId, first + DAY_MS, today + DAY_MS)).toMatchObject({ ...named, [stepped]: 'stepped' });
    await resetWindow();
    expect(await rollUsageWindow(t.ctx.database, today + DAY_MS)).toBe('rebuilt');
    expect(await namesIn(tenantId, first + DAY_MS, today + DAY_MS)).toMatchObject({ ...named, [stepped]: 'stepped' });
  });

  it('reads names of any characters exactly, and a tenant without rows as an empty list', async () => {
    const tenantId = tenants[1];
    const { today, first } = await windowEndingAt(310);
    expect(await windowTopKeys(t.ctx.database, tenantId, first, today, 10)).toEqual([]);
    const names = ['quote " and \\ back, comma', 'Ünïcødé 🔑 [1, "x"] {}', "it's <b>", 'null'];
    const ids = [];
    for (const name of names) ids.push(await keyNamed(tenantId, name));
    await writeUsageBatch(t.ctx.database, requestsOn(today, ids, tenantId));
    expect(await namesIn(tenantId, first, today)).toEqual(Object.fromEntries(ids.map((id, i) => [id, names[i]])));
  });

  it('keeps names exact when keys are renamed while batches and a roll make their rows', async () => {
    await resetWindow();
    const tenantId = tenants[1];
    let today = START + 400 * DAY_MS;
    await rollUsageWindow(t.ctx.database, today);
    for (let round = 0; round < 6; round++) {
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push(await keyNamed(tenantId, `r${round}-${i} old`));
      // Half the keys reach the window by batches (admitted, refused only), half by the roll (tomorrow's rows).
      await writeUsageBatch(t.ctx.database, requestsOn(today + DAY_MS, ids.slice(4), tenantId));
      today += DAY_MS;
      await Promise.all([
        writeUsageBatch(t.ctx.database, requestsOn(today, ids.slice(0, 2), tenantId)),
        writeUsageBatch(t.ctx.database, requestsOn(today, ids.slice(2, 4), tenantId, 'key_inactive')),
        rollUsageWindow(t.ctx.database, today),
        ...ids.map((id, i) => t.ctx.keys.update(tenantId, id, { name: `r${round}-${i} new` }, testActor)),
      ]);
      const names = await namesIn(tenantId, today - (WINDOW_DAYS - 1) * DAY_MS, today);
      expect(ids.map((id) => names[id])).toEqual(ids.map((_, i) => `r${round}-${i} new`));
    }
  });

  it('has a column for every outcome code (a new code without a migration fails here)', async () => {
    const columns =
      provider === 'sqlite'
        ? (await t.ctx.database.reads.all<{ name: string }>(`SELECT "name" FROM pragma_table_info('usage_key_window')`, [])).map((c) => c.name)
        : (await t.ctx.database.reads.all<{ name: string }>(`SELECT "column_name" AS "name" FROM information_schema.columns WHERE "table_name" = 'usage_key_window'`, [])).map((c) => c.name);
    expect(columns).toEqual(expect.arrayContaining([...REQUEST_OUTCOMES]));
  });

  it('builds the JSON the API would make of the rows: any names, counts and spends, cut at the limit', async () => {
    const { today, first } = await windowEndingAt(260);
    const count = fc.integer({ min: 0, max: 2 ** 40 });
    const row = fc.record({
      keyName: fc.option(fc.string({ unit: 'grapheme', maxLength: 12 }).filter((name) => !name.includes('\u0000'))),
      requests: fc.integer({ min: 0, max: 5 }),
      tokens: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      spendMicroCents: fc.oneof(fc.constantFrom(0, 1, 10, 999_999, 1_000_000, 1_500_000, 2_000_000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
      outcomes: fc.array(count, { minLength: REQUEST_OUTCOMES.length, maxLength: REQUEST_OUTCOMES.length }),
    });
    const field = (outcome: string) => outcome.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 0, maxLength: 8 }), fc.integer({ min: 1, max: 10 }), async (rows, limit) => {
        const tenantId = `json-${provider}-${run++}`;
        await t.ctx.database.prisma.usageKeyWindow.createMany({
          data: rows.map((r, i) => ({
            keyId: `${tenantId}-${i}`,
            tenantId,
            keyName: r.keyName,
            requests: BigInt(r.requests),
            tokens: BigInt(r.tokens),
            spendMicroCents: BigInt(r.spendMicroCents),
            ...Object.fromEntries(REQUEST_OUTCOMES.map((outcome, o) => [field(outcome), BigInt(r.outcomes[o])])),
          })),
        });
        const objects = await windowTopKeys(t.ctx.database, tenantId, first, today, limit);
        const json = await windowTopKeysJson(t.ctx.database, tenantId, first, today, limit);
        expect(objects).toHaveLength(Math.min(rows.length, limit));
        expect(JSON.parse(json as string)).toEqual(objects?.map(presentUsageRow));
      }),
      { numRuns: 30 },
    );
    expect(await windowTopKeysJson(t.ctx.database, tenants[0], first + DAY_MS, today, 10)).toBeNull();
  });

  it("reads a report's row texts joined in the statement's order, as one text (any characters; none when no row)", async () => {
    const texts = ['b', 'a', 'ç,"\\ 🔑', 'c', 'A'];
    const sql = `SELECT t."x" FROM (${texts.map((x, i) => `SELECT '${x.replace(/'/g, "''")}' AS "x", ${i} AS "n"`).join(' UNION ALL ')}) t WHERE t."x" <> ? ORDER BY t."n" DESC`;
    expect(await t.ctx.database.reads.joined(sql, ['c'], ',')).toBe('A,ç,"\\ 🔑,a,b');
    expect(await t.ctx.database.reads.joined(sql.replace('<>', '='), ['none'], ',')).toBe('');
  });

  it('does not answer for other days: a report of another range, or before the roll, sums the daily rows', async () => {
    const { today, first } = await windowEndingAt(200);
    expect(await windowTopKeys(t.ctx.database, tenants[0], first, today, 10)).not.toBeNull();
    expect(await windowTopKeys(t.ctx.database, tenants[0], first + DAY_MS, today, 10)).toBeNull();
    expect(await windowTopKeys(t.ctx.database, tenants[0], first, today - DAY_MS, 10)).toBeNull();
    expect(await windowTopKeys(t.ctx.database, tenants[0], first + DAY_MS, today + DAY_MS, 10)).toBeNull();
    // A clock behind the window's: nothing to do.
    expect(await rollUsageWindow(t.ctx.database, today - DAY_MS)).toBe('ahead');
    expect(await rollUsageWindow(t.ctx.database, today)).toBe('current');
  });
});

describePostgres('window names on PostgreSQL, against a rename held open', () => {
  let t: TestContext;
  let tenantId: string;
  let renamer: pg.Client;

  beforeAll(async () => {
    t = await createTestContext('postgresql');
    await t.ctx.usageWindow.stop();
    tenantId = (await buildTenant(t.ctx)).id;
    renamer = new pg.Client({ connectionString: t.ctx.config.database.url });
    await renamer.connect();
  });
  afterAll(async () => {
    await renamer.end();
    await t.close();
  });

  /**
   * Renames `keyId` in a transaction of its own, runs `write` meanwhile, commits the rename once
   * `write` has had time to finish if nothing held it, and returns the window's name afterwards.
   */
  async function renamedDuring(keyId: string, write: () => Promise<unknown>): Promise<string | null> {
    await renamer.query('BEGIN');
    await renamer.query(`UPDATE "api_keys" SET "name" = 'renamed' WHERE "id" = $1`, [keyId]);
    const written = write();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await renamer.query('COMMIT');
    await written;
    const rows = await t.ctx.database.reads.all<{ keyName: string | null }>('SELECT "keyName" FROM "usage_key_window" WHERE "keyId" = ?', [keyId]);
    return rows[0]?.keyName ?? null;
  }

  const make = async () => (await t.ctx.keys.create(tenantId, buildKeyInput({ name: 'before' }), testActor)).apiKey.id;
  const batchOf = (keyId: string, day: number, outcome: RequestOutcome): UsageBatch => ({
    ...emptyUsageBatch(),
    daily: outcome === 'ok' ? [{ keyId, tenantId, bucketStart: day, requestsOk: 1, requestsFailed: 0, tokens: 0, spendMicroCents: 0 }] : [],
    outcomesDaily: [{ keyId, tenantId, bucketStart: day, outcome, requests: 1 }],
  });

  it.each(['ok', 'rate_limited'] as const)('a batch making the row of a key with an %s request waits for the rename', async (outcome) => {
    const today = START + 500 * DAY_MS;
    await t.ctx.database.prisma.usageWindowState.update({ where: { id: 1 }, data: { startDay: new Date(0), endDay: new Date(0) } });
    await rollUsageWindow(t.ctx.database, today);
    const keyId = await make();
    expect(await renamedDuring(keyId, () => writeUsageBatch(t.ctx.database, batchOf(keyId, today, outcome)))).toBe('renamed');
  });

  it('a roll making the row of a key entering the window waits for the rename', async () => {
    const today = START + 600 * DAY_MS;
    await t.ctx.database.prisma.usageWindowState.update({ where: { id: 1 }, data: { startDay: new Date(0), endDay: new Date(0) } });
    await rollUsageWindow(t.ctx.database, today);
    const keyId = await make();
    await writeUsageBatch(t.ctx.database, batchOf(keyId, today + DAY_MS, 'ok'));
    expect(await renamedDuring(keyId, () => rollUsageWindow(t.ctx.database, today + DAY_MS))).toBe('renamed');
  });
});

describe.each(availableProviders)('usage by key through the API on %s', (provider) => {
  it('answers the last 30 days from the window and any other range from the daily rows, with the same rows', async () => {
    // The route's days are the real ones (from the last 30 days to today), like the roller's.
    const w = await createTestApp(provider);
    try {
      await w.ctx.usageWindow.rollOnce();
      const { endDay: today } = await readWindowState(w.ctx.database);
      expect(today).toBe(dayStart(Date.now()));
      const { key, apiKey } = await w.issue({ scopes: ['keys:read'] });
      const other = (await w.issue({ name: 'other' })).apiKey;
      const batch: UsageBatch = {
        ...emptyUsageBatch(),
        daily: [
          { keyId: apiKey.id, tenantId: w.tenant.id, bucketStart: today - 3 * DAY_MS, requestsOk: 2, requestsFailed: 0, tokens: 20, spendMicroCents: 9_000_000 },
          { keyId: other.id, tenantId: w.tenant.id, bucketStart: today, requestsOk: 5, requestsFailed: 1, tokens: 50, spendMicroCents: 40_000_000 },
        ],
        outcomesDaily: [
          { keyId: apiKey.id, tenantId: w.tenant.id, bucketStart: today - 3 * DAY_MS, outcome: 'ok', requests: 2 },
          { keyId: apiKey.id, tenantId: w.tenant.id, bucketStart: today - 3 * DAY_MS, outcome: 'rate_limited', requests: 4 },
          { keyId: other.id, tenantId: w.tenant.id, bucketStart: today, outcome: 'ok', requests: 5 },
          { keyId: other.id, tenantId: w.tenant.id, bucketStart: today, outcome: 'failed', requests: 1 },
        ],
      };
      await writeUsageBatch(w.ctx.database, batch);
      // The window has both keys: the report reads it (a stored window row proves which path can answer).
      expect(await w.ctx.database.prisma.usageKeyWindow.count({ where: { tenantId: w.tenant.id } })).toBe(2);
      const get = (query: string) => request(w.app).get(`/api/v1/usage?groupBy=key${query}`).set('authorization', `Bearer ${key}`);
      const last30 = await get('');
      expect(last30.status).toBe(200);
      const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
      const explicit = await get(`&from=${iso(today - 29 * DAY_MS)}&to=${iso(today)}`);
      const wider = await get(`&from=${iso(today - 40 * DAY_MS)}&to=${iso(today)}`);
      expect(explicit.body).toEqual(last30.body);
      expect(wider.body.data).toEqual(last30.body.data);
      const rows = last30.body.data as { keyId: string; requests: number; tokens: number; costCents: number; outcomes: Record<string, number> }[];
      expect(rows.map((r) => [r.keyId, r.requests, r.tokens, r.costCents])).toEqual([
        [apiKey.id, 6, 20, 9],
        [other.id, 6, 50, 40],
      ].sort((a, b) => (b[1] as number) - (a[1] as number) || (b[3] as number) - (a[3] as number)));
      expect(rows.find((r) => r.keyId === apiKey.id)?.outcomes).toMatchObject({ ok: 2, rate_limited: 4 });
    } finally {
      await w.close();
    }
  });

  it('answers 900 keys with names of several bytes as their rows present them (the database builds the JSON, written in parts of bytes)', async () => {
    const w = await createTestApp(provider);
    try {
      await w.ctx.usageWindow.rollOnce();
      const { startDay, endDay } = await readWindowState(w.ctx.database);
      const { key } = await w.issue({ scopes: ['keys:read'] });
      await w.ctx.database.prisma.usageKeyWindow.createMany({
        data: Array.from({ length: 900 }, (_, i) => ({
          keyId: `long-${String(i).padStart(4, '0')}`,
          tenantId: w.tenant.id,
          keyName: `ключ 🔑 ${'é'.repeat(i % 7)} ${i}`,
          requests: BigInt(i % 13),
          ok: BigInt(i % 13),
          tokens: BigInt(i * 1000),
          spendMicroCents: BigInt(i * 1_234_567),
        })),
      });
      const answer = await request(w.app).get('/api/v1/usage?groupBy=key').set('authorization', `Bearer ${key}`);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      // More than one part of 256 KiB.
      expect(Buffer.byteLength(answer.text)).toBeGreaterThan(300_000);
      const objects = await windowTopKeys(w.ctx.database, w.tenant.id, startDay, endDay, 10_000);
      expect(answer.body).toEqual({ from: new Date(startDay).toISOString().slice(0, 10), to: new Date(endDay).toISOString().slice(0, 10), groupBy: 'key', data: objects?.map(presentUsageRow) });
      expect(answer.body.data).toHaveLength(900);
    } finally {
      await w.close();
    }
  });
});
