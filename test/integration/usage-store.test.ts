import { CeilingRaises } from '../../src/data/ceiling-raises';
import { UsageBuffer } from '../../src/usage/usage-buffer';
import { buildUsageEvent } from '../helpers/usage-events';
import { lowerCeilings, raiseCeiling, writeUsageBatch } from '../../src/data/repositories/usage';
import { emptyUsageBatch, type KeyUsageDelta, type RollupDelta, type UsageBatch } from '../../src/usage/usage-batch';
import { availableProviders } from '../helpers/databases';
import { buildKeyInput, buildTenant, createTestContext, type TestContext, testActor } from '../helpers/context';

const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const HOUR = Date.UTC(2026, 10, 22, 10);
const DAY = Date.UTC(2026, 10, 22);

function batch(keyId: string, tenantId: string, n: number, options: { period?: number; lastUsedAt?: number | null } = {}): UsageBatch {
  const counts = { requestsOk: n, requestsFailed: 1, tokens: 10 * n, spendMicroCents: 7 * n };
  const key: KeyUsageDelta = {
    keyId,
    tenantId,
    ...counts,
    budgetPeriod: options.period ?? null,
    budgetPeriodSpend: options.period === undefined ? 0 : 7 * n,
    lastUsedAt: options.lastUsedAt ?? null,
  };
  const rollup = (bucketStart: number): RollupDelta => ({ keyId, tenantId, bucketStart, ...counts });
  return { ...emptyUsageBatch(), keys: [key], hourly: [rollup(HOUR)], daily: [rollup(DAY)] };
}

describe.each(availableProviders)('usage storage on %s', (provider) => {
  let t: TestContext;
  let tenantId: string;
  const newKey = async (input: Record<string, unknown> = {}) => (await t.ctx.keys.create(tenantId, buildKeyInput(input), testActor)).apiKey.id;
  const stored = async (id: string) => {
    const key = await t.ctx.keys.findById(id);
    if (!key) throw new Error('key gone');
    return key;
  };

  beforeAll(async () => {
    t = await createTestContext(provider);
    tenantId = (await buildTenant(t.ctx)).id;
  });
  afterAll(async () => t.close());

  it('writes a batch of 70,000 keys (more than one statement may bind: a batch after a long outage)', async () => {
    const id = await newKey();
    const big = batch(id, tenantId, 2);
    // Keys deleted meanwhile (no rows) are skipped; their outcome counts are still written.
    for (let i = 0; i < 70_000; i++) {
      const keyId = `gone-${i}`;
      big.keys.push({ keyId, tenantId, requestsOk: 1, requestsFailed: 0, tokens: 0, spendMicroCents: 0, budgetPeriod: null, budgetPeriodSpend: 0, lastUsedAt: null });
      if (i % 10 === 0) big.outcomesDaily.push({ keyId, tenantId, bucketStart: DAY, outcome: 'rate_limited', requests: 1 });
    }
    await writeUsageBatch(t.ctx.database, big);
    expect((await stored(id)).usage).toMatchObject({ requestsOk: 2, requestsFailed: 1, tokens: 20 });
    expect(await t.ctx.database.prisma.usageOutcomeDaily.count({ where: { keyId: { startsWith: 'gone-' } } })).toBe(7_000);
  }, 60_000);

  it('adds counters and rollups atomically; lastUsedAt only moves forward', async () => {
    const id = await newKey();
    await writeUsageBatch(t.ctx.database, batch(id, tenantId, 5, { lastUsedAt: HOUR + 60_000 }));
    await writeUsageBatch(t.ctx.database, batch(id, tenantId, 3, { lastUsedAt: HOUR }));
    const key = await stored(id);
    expect(key.usage).toEqual({ requestsOk: 8, requestsFailed: 2, tokens: 80, spendMicroCents: 56, lastUsedAt: new Date(HOUR + 60_000) });
    const hourly = await t.ctx.database.prisma.usageHourly.findMany({ where: { keyId: id } });
    expect(hourly.map((h) => [h.bucketStart.getTime(), Number(h.requestsOk), Number(h.requestsFailed), Number(h.spendMicroCents)])).toEqual([
      [HOUR, 8, 2, 56],
    ]);
    const daily = await t.ctx.database.prisma.usageDaily.findMany({ where: { keyId: id } });
    expect(Number(daily[0].tokens)).toBe(80);
  });

  it('never loses or double-counts when batches are written at the same time', async () => {
    const ids = [await newKey(), await newKey(), await newKey()];
    const batches = Array.from({ length: 12 }, (_, i) => {
      // Overlapping keys in different orders, as several instances would write them.
      const order = i % 2 === 0 ? ids : [...ids].reverse();
      const parts = order.map((id) => batch(id, tenantId, 1 + i));
      return { ...emptyUsageBatch(), keys: parts.flatMap((p) => p.keys), hourly: parts.flatMap((p) => p.hourly), daily: parts.flatMap((p) => p.daily) };
    });
    await Promise.all(batches.map((b) => writeUsageBatch(t.ctx.database, b)));
    const expected = Array.from({ length: 12 }, (_, i) => 1 + i).reduce((a, b) => a + b, 0);
    for (const id of ids) expect((await stored(id)).usage.requestsOk).toBe(expected);
  });

  it('keeps the budget counter per period: added within it, restarted by a newer one, older spend ignored', async () => {
    const id = await newKey({ budget: { limitCents: 100, period: 'monthly' } });
    await raiseCeiling(t.ctx.database, id, 'budget', NOV, 500);
    await writeUsageBatch(t.ctx.database, batch(id, tenantId, 10, { period: NOV }));
    let key = await stored(id);
    expect(key.ledger).toMatchObject({ budgetPeriodStart: new Date(NOV), budgetSpentMicroCents: 70, budgetCeilingMicroCents: 500 });
    await writeUsageBatch(t.ctx.database, batch(id, tenantId, 2, { period: DEC }));
    key = await stored(id);
    expect(key.ledger).toMatchObject({ budgetPeriodStart: new Date(DEC), budgetSpentMicroCents: 14, budgetCeilingMicroCents: 0 });
    await writeUsageBatch(t.ctx.database, batch(id, tenantId, 5, { period: NOV }));
    key = await stored(id);
    expect(key.ledger).toMatchObject({ budgetPeriodStart: new Date(DEC), budgetSpentMicroCents: 14 });
    expect(key.usage.spendMicroCents).toBe(70 + 14 + 35);
  });

  it('raises ceilings without ever lowering them, and lowers them only on a clean stop', async () => {
    const id = await newKey({ usageLimit: 1000, budget: { limitCents: 100, period: 'monthly' } });
    await raiseCeiling(t.ctx.database, id, 'quota', 0, 50);
    await raiseCeiling(t.ctx.database, id, 'quota', 0, 20);
    await raiseCeiling(t.ctx.database, id, 'budget', NOV, 9000);
    await raiseCeiling(t.ctx.database, id, 'budget', NOV, 100);
    let key = await stored(id);
    expect(key.ledger).toMatchObject({ quotaCeiling: 50, budgetCeilingMicroCents: 9000, budgetPeriodStart: new Date(NOV) });
    await raiseCeiling(t.ctx.database, id, 'budget', DEC, 300);
    key = await stored(id);
    expect(key.ledger).toMatchObject({ budgetCeilingMicroCents: 300, budgetPeriodStart: new Date(DEC), budgetSpentMicroCents: 0 });
    await lowerCeilings(t.ctx.database, [
      { keyId: id, kind: 'quota', periodStart: 0, ceiling: 7 },
      { keyId: id, kind: 'budget', periodStart: DEC, ceiling: 120 },
    ]);
    key = await stored(id);
    expect(key.ledger).toMatchObject({ quotaCeiling: 7, budgetCeilingMicroCents: 120 });
  });

  it('lowers the ceilings of many keys in one write, each kind with its period, and leaves a ceiling whose period moved on', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => newKey({ usageLimit: 1000, budget: { limitCents: 100, period: 'monthly' } })));
    for (const id of ids) {
      await raiseCeiling(t.ctx.database, id, 'quota', 0, 500);
      await raiseCeiling(t.ctx.database, id, 'budget', DEC, 9000);
    }
    let writes = 0;
    const counted = { ...t.ctx.database, write: (plan: Parameters<typeof t.ctx.database.write>[0]) => ((writes += 1), t.ctx.database.write(plan)) };
    await lowerCeilings(counted, [
      ...ids.map((keyId, i) => ({ keyId, kind: 'quota' as const, periodStart: 0, ceiling: 10 + i })),
      // The last key's budget period is DEC: a NOV entry must not touch it.
      ...ids.map((keyId, i) => ({ keyId, kind: 'budget' as const, periodStart: i === 4 ? NOV : DEC, ceiling: 100 + i })),
    ]);
    expect(writes).toBe(1);
    const ledgers = await Promise.all(ids.map(async (id) => (await stored(id)).ledger));
    expect(ledgers.map((l) => [l.quotaCeiling, l.budgetCeilingMicroCents])).toEqual([
      [10, 100],
      [11, 101],
      [12, 102],
      [13, 103],
      [14, 9000],
    ]);
  });

  it('keeps a daily or monthly quota\'s ceiling with its period: a newer period starts over, an older one changes nothing', async () => {
    const id = await newKey({ usageLimit: 1000, usageLimitPeriod: 'daily' });
    const day1 = Date.UTC(2026, 10, 29);
    const day2 = Date.UTC(2026, 10, 30);
    await raiseCeiling(t.ctx.database, id, 'quota', day1, 60);
    await raiseCeiling(t.ctx.database, id, 'quota', day1, 40);
    let key = await stored(id);
    expect(key.ledger).toMatchObject({ quotaCeiling: 60, quotaPeriodStart: new Date(day1) });
    await raiseCeiling(t.ctx.database, id, 'quota', day2, 5);
    await raiseCeiling(t.ctx.database, id, 'quota', day1, 900);
    key = await stored(id);
    expect(key.ledger).toMatchObject({ quotaCeiling: 5, quotaPeriodStart: new Date(day2) });
    await lowerCeilings(t.ctx.database, [{ keyId: id, kind: 'quota', periodStart: day1, ceiling: 1 }]);
    expect((await stored(id)).ledger.quotaCeiling).toBe(5);
    await lowerCeilings(t.ctx.database, [{ keyId: id, kind: 'quota', periodStart: day2, ceiling: 3 }]);
    expect((await stored(id)).ledger.quotaCeiling).toBe(3);
  });

  it('writes the ceiling raises of one tick together, in one write, each durable when its promise resolves', async () => {
    const ids = await Promise.all(Array.from({ length: 30 }, () => newKey({ budget: { limitCents: 100, period: 'monthly' }, usageLimit: 1000 })));
    let writes = 0;
    const counted = { sql: t.ctx.database.sql, write: (plan: Parameters<typeof t.ctx.database.write>[0]) => ((writes += 1), t.ctx.database.write(plan)) };
    const raises = new CeilingRaises(counted);
    await Promise.all(ids.flatMap((id, i) => [raises.raise(id, 'budget', NOV, 1000 + i), raises.raise(id, 'quota', 0, 10 + i)]));
    expect(writes).toBe(1);
    for (const [i, id] of ids.entries()) {
      expect((await stored(id)).ledger).toMatchObject({ budgetCeilingMicroCents: 1000 + i, quotaCeiling: 10 + i, budgetPeriodStart: new Date(NOV) });
    }
    // The next tick's raises are the next write.
    await raises.raise(ids[0], 'quota', 0, 500);
    expect(writes).toBe(2);
    expect((await stored(ids[0])).ledger.quotaCeiling).toBe(500);
    // A write that fails fails the raises in it (their requests are refused; the next ones retry).
    const failing = new CeilingRaises({ sql: t.ctx.database.sql, write: async () => Promise.reject(new Error('database away')) });
    await expect(Promise.all([failing.raise(ids[1], 'quota', 0, 900), failing.raise(ids[2], 'quota', 0, 900)])).rejects.toThrow('database away');
    expect((await stored(ids[1])).ledger.quotaCeiling).toBe(11);

    // Raises of one key in one write leave what they would leave one after the other: the highest
    // ceiling of a period, and the newest period (its spend starting over) whatever the order.
    await raises.raise(ids[3], 'budget', DEC, 1);
    await Promise.all([
      raises.raise(ids[3], 'budget', DEC, 700),
      raises.raise(ids[3], 'budget', DEC, 400),
      raises.raise(ids[4], 'budget', DEC + 31 * 86_400_000, 50),
      raises.raise(ids[4], 'budget', DEC, 9000),
      raises.raise(ids[5], 'quota', 0, 300),
      raises.raise(ids[5], 'quota', 0, 200),
      raises.raise(ids[5], 'budget', NOV, 80),
    ]);
    expect(writes).toBe(4);
    expect((await stored(ids[3])).ledger).toMatchObject({ budgetCeilingMicroCents: 700, budgetPeriodStart: new Date(DEC) });
    expect((await stored(ids[4])).ledger).toMatchObject({ budgetCeilingMicroCents: 50, budgetPeriodStart: new Date(DEC + 31 * 86_400_000), budgetSpentMicroCents: 0 });
    expect((await stored(ids[5])).ledger).toMatchObject({ quotaCeiling: 300, budgetCeilingMicroCents: 1005, budgetPeriodStart: new Date(NOV) });
  });

  it('a batch sent again after a commit whose answer was lost is counted once (its id is stored with it)', async () => {
    const id = await newKey();
    // The first write commits, then the connection "drops" before its answer arrives.
    let lostAnswers = 1;
    const outcomes: boolean[] = [];
    const buffer = new UsageBuffer({
      write: async (b) => {
        const result = await writeUsageBatch(t.ctx.database, b);
        outcomes.push(result.alreadyWritten);
        if (lostAnswers-- > 0) throw new Error('Connection terminated unexpectedly');
      },
    });
    for (let i = 0; i < 3; i++) buffer.record(buildUsageEvent({ keyId: id, tenantId, ok: true, outcome: 'ok', tokens: 10, costMicroCents: 7 }));
    await buffer.flush();
    expect(buffer.isEmpty()).toBe(false);
    // Recorded meanwhile: written after the retry, in a batch of its own.
    buffer.record(buildUsageEvent({ keyId: id, tenantId, ok: true, outcome: 'ok', tokens: 10, costMicroCents: 7 }));
    await buffer.flush();
    expect(buffer.isEmpty()).toBe(true);
    expect(outcomes).toEqual([false, true, false]);
    expect((await stored(id)).usage).toMatchObject({ requestsOk: 4, tokens: 40, spendMicroCents: 28 });
    const daily = await t.ctx.database.prisma.usageOutcomeDaily.findMany({ where: { keyId: id } });
    expect(daily.map((d) => [d.outcome, Number(d.requests)])).toEqual([['ok', 4]]);
    expect(await t.ctx.database.prisma.requestLog.count({ where: { keyId: id } })).toBe(4);
  });

  it('a retried batch whose first commit went unseen still reports the addresses that commit saw first (key.new_ip)', async () => {
    const id = await newKey();
    // 10.0.0.1 was seen in an earlier batch; 10.0.0.2 and 10.0.0.3 are new in this one.
    await writeUsageBatch(t.ctx.database, { ...emptyUsageBatch(), clientAddresses: [{ keyId: id, tenantId, ip: '10.0.0.1', firstSeenAt: DAY, lastSeenAt: DAY, requests: 1 }] });
    const sent = emptyUsageBatch();
    sent.clientAddresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip, i) => ({ keyId: id, tenantId, ip, firstSeenAt: HOUR + i, lastSeenAt: HOUR + i, requests: 2 }));
    const first = await writeUsageBatch(t.ctx.database, sent);
    const expected = [
      { keyId: id, tenantId, ip: '10.0.0.2' },
      { keyId: id, tenantId, ip: '10.0.0.3' },
    ];
    expect(first).toEqual({ alreadyWritten: false, newClientAddresses: expected });
    // Its answer was lost: the same batch is sent again.
    const retried = await writeUsageBatch(t.ctx.database, sent);
    expect(retried.alreadyWritten).toBe(true);
    expect(retried.newClientAddresses).toEqual(expected);
    const rows = await t.ctx.database.prisma.keyClientAddress.findMany({ where: { keyId: id }, orderBy: { ip: 'asc' } });
    expect(rows.map((r) => [r.ip, Number(r.requests)])).toEqual([
      ['10.0.0.1', 3],
      ['10.0.0.2', 2],
      ['10.0.0.3', 2],
    ]);
  });

  it('skips keys deleted before their usage was written, keeping their history', async () => {
    const id = await newKey();
    await t.ctx.keys.delete(tenantId, id, testActor);
    await writeUsageBatch(t.ctx.database, batch(id, tenantId, 4));
    expect(await t.ctx.keys.findById(id)).toBeNull();
    expect(await t.ctx.database.prisma.usageDaily.count({ where: { keyId: id } })).toBe(1);
  });
});
