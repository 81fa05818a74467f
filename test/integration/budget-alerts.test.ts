/**
 * Budget threshold alerts end to end: requests spend a tenant's budget through /api; at 80% a
 * local receiver gets exactly one signed `budget.threshold` event, even when it is down for the
 * first attempts, and even when the app restarts between the threshold and the delivery.
 */
import request from 'supertest';
import { createApp } from '../../src/app';
import type { AppContext } from '../../src/context';
import { chatBody } from '../helpers/app';
import { testActor } from '../helpers/context';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases';
import { freePort } from '../helpers/processes';
import { openContext } from '../helpers/webhook-context';
import { eventually, type Receiver, startReceiver, verifySignature } from '../helpers/webhook-receiver';

interface Setup {
  ctx: AppContext;
  tenantId: string;
  key: string;
  secret: string;
}

/** A tenant with a 1-cent monthly budget alerting at 80%, a webhook to `url` and a key to spend with. */
async function setUp(ctx: AppContext, url: string): Promise<Setup> {
  const tenant = await ctx.tenants.create({ name: 'Alerts', slug: `alerts-${Date.now()}` }, testActor);
  await ctx.levels.updateTenant(tenant.id, { budget: { limitCents: 1, period: 'monthly' }, alertThresholds: [80] }, testActor);
  const webhook = await ctx.webhooks.create(tenant.id, { url, events: ['budget.threshold'] }, testActor);
  const { key } = await ctx.keys.create(tenant.id, { name: 'spender', tier: 'enterprise' }, testActor);
  if (!webhook.secret) throw new Error('a new webhook shows its secret');
  return { ctx, tenantId: tenant.id, key, secret: webhook.secret };
}

/** Spends through /api until the tenant has spent 80% of its budget (then checks thresholds once). */
async function spendTo80Percent({ ctx, tenantId, key }: Setup): Promise<void> {
  const app = createApp(ctx);
  for (let i = 0; i < 200; i += 1) {
    const res = await request(app).post('/api/v1/chat/completions').set('authorization', `Bearer ${key}`).send(chatBody({ model: 'local-large', max_tokens: 64 }));
    expect([200, 402]).toContain(res.status);
    const budget = (await ctx.levels.getTenant(tenantId)).budget;
    if (budget && budget.spentCents >= 0.8) break;
  }
  expect((await ctx.levels.getTenant(tenantId)).budget?.spentCents).toBeGreaterThanOrEqual(0.8);
  await ctx.thresholds.check();
}

describe('budget threshold alerts', () => {
  let db: TestDatabase;
  const open: AppContext[] = [];
  let receiver: Receiver | null = null;

  beforeEach(async () => {
    db = await createSqliteDatabase();
  });
  afterEach(async () => {
    for (const ctx of open.splice(0)) await ctx.close();
    await receiver?.close();
    receiver = null;
    await db.drop();
  });

  it('at 80% of a tenant budget, a receiver down for the first attempts gets exactly one signed budget.threshold event', async () => {
    receiver = await startReceiver((n) => (n < 2 ? 503 : 200));
    const ctx = await openContext(db);
    open.push(ctx);
    const setup = await setUp(ctx, receiver.url);
    await spendTo80Percent(setup);
    // More spend and more checks change nothing: the threshold fired once for this period.
    await spendTo80Percent(setup);
    await receiver.waitFor(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.deliveredIds()).toHaveLength(1);
    const delivered = receiver.received.filter((r) => r.status === 200);
    expect(delivered).toHaveLength(1);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(verifySignature(setup.secret, delivered[0])).toBe(true);
    expect(verifySignature(`whsec_${Buffer.alloc(24, 1).toString('base64')}`, delivered[0])).toBe(false);
    const payload = JSON.parse(delivered[0].body);
    expect(payload).toMatchObject({ type: 'budget.threshold', data: { tenantId: setup.tenantId, level: 'tenant', threshold: 80, limitCents: 1, period: 'monthly' } });
    expect(payload.data.spentCents).toBeGreaterThanOrEqual(0.8);
  });

  it('an app restart between the threshold and the delivery loses nothing', async () => {
    const port = await freePort();
    const first = await openContext(db);
    const setup = await setUp(first, `http://127.0.0.1:${port}/hooks`);
    await spendTo80Percent(setup);
    // The receiver is not there yet: the first attempt fails; the app stops before it retries.
    await eventually(async () => (await first.webhooks.list(setup.tenantId)).length === 1 && (await first.alerts.listRecent(setup.tenantId)).length === 1);
    await first.close();

    receiver = await startReceiver(() => 200, port);
    const second = await openContext(db);
    open.push(second);
    await receiver.waitFor(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.deliveredIds()).toHaveLength(1);
    expect(verifySignature(setup.secret, receiver.received[0])).toBe(true);
    expect(JSON.parse(receiver.received[0].body)).toMatchObject({ type: 'budget.threshold', data: { level: 'tenant', threshold: 80 } });
  });

  it('a key\'s quota fires quota.threshold once per threshold and period; an owner budget names its level', async () => {
    receiver = await startReceiver(() => 200);
    const ctx = await openContext(db);
    open.push(ctx);
    const tenant = await ctx.tenants.create({ name: 'Quota', slug: 'quota' }, testActor);
    await ctx.webhooks.create(tenant.id, { url: receiver.url, events: ['quota.threshold', 'budget.threshold'] }, testActor);
    const owner = await ctx.users.create({ email: 'owner@alerts.test', password: 'a long enough password' }, testActor);
    await ctx.users.setMembership(owner.id, tenant.id, 'member', testActor);
    await ctx.levels.updateOwner(tenant.id, owner.id, { budget: { limitCents: 1000, period: 'monthly' } }, testActor);
    const { key, apiKey } = await ctx.keys.create(tenant.id, { name: 'daily', tier: 'enterprise', ownerId: owner.id, usageLimit: 4, usageLimitPeriod: 'daily' }, testActor);
    const app = createApp(ctx);
    for (let i = 0; i < 4; i += 1) {
      expect((await request(app).post('/api/v1/chat/completions').set('authorization', `Bearer ${key}`).send(chatBody())).status).toBe(200);
      await ctx.thresholds.check();
    }
    await receiver.waitFor(3);
    await new Promise((r) => setTimeout(r, 300));
    const events = receiver.received.map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> });
    const quota = events.filter((e) => e.type === 'quota.threshold').map((e) => e.data.threshold);
    expect(quota.sort()).toEqual([100, 50, 80]);
    expect(events.find((e) => e.type === 'quota.threshold')?.data).toMatchObject({ level: 'key', keyId: apiKey.id, keyName: 'daily', limitRequests: 4, period: 'daily' });
    // The owner's 10-dollar budget is far from 50%: no budget alert.
    expect(events.filter((e) => e.type === 'budget.threshold')).toEqual([]);
  });
});
