/**
 * The alert detectors: key.expiring (7 days and 1 day before) and key.expired from the sweep, with
 * an injected clock; key.revoked exactly once though every instance hears the revocation; and
 * key.new_ip for keys with notifyOnNewIp, from the usage writes of real /api requests.
 */
import request from 'supertest';
import { createApp } from '../../src/app';
import type { AppContext } from '../../src/context';
import { buildKeyInput, buildTenant, testActor } from '../helpers/context';
import { availableProviders, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { eventually } from '../helpers/webhook-receiver';
import { openContext } from '../helpers/webhook-context';

const DAY = 86_400_000;

describe.each(availableProviders)('alert detectors on %s', (provider) => {
  let db: TestDatabase;
  const open: AppContext[] = [];

  beforeEach(async () => {
    db = await createTestDatabase(provider);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((ctx) => ctx.close()));
    await db.drop();
  });

  const context = async (...args: Parameters<typeof openContext> extends [unknown, ...infer R] ? R : never) => {
    const ctx = await openContext(db, ...args);
    open.push(ctx);
    return ctx;
  };
  const alertsOf = async (ctx: AppContext, type: string) =>
    (await ctx.database.prisma.alert.findMany({ where: { type }, orderBy: { createdAt: 'asc' } })).map((a) => ({ dedupKey: a.dedupKey, data: a.data }));

  test('the expiry sweep: 7 days and 1 day before, then expired; once each; a new expiry arms them again; revoked keys never', async () => {
    const t0 = new Date('2027-01-01T00:00:00.000Z').getTime();
    const at = (days: number) => new Date(t0 + days * DAY);
    let now = at(0);
    const ctx = await context({ clock: () => now, alertWorkers: false });
    const tenant = await buildTenant(ctx);
    const far = (await ctx.keys.create(tenant.id, buildKeyInput({ name: 'far', expiresAt: at(10).toISOString() }), testActor)).apiKey;
    const soon = (await ctx.keys.create(tenant.id, buildKeyInput({ name: 'soon', expiresAt: at(3).toISOString() }), testActor)).apiKey;
    const revoked = (await ctx.keys.create(tenant.id, buildKeyInput({ name: 'gone', expiresAt: at(2).toISOString() }), testActor)).apiKey;
    await ctx.keys.revoke(tenant.id, revoked.id, testActor);
    const iso = (key: { expiresAt: Date | null }) => (key.expiresAt as Date).toISOString();

    // Created inside 7 days: its tightest threshold at once. Ten days out: nothing yet.
    expect(await ctx.expirySweep.sweepOnce()).toBe(1);
    expect(await alertsOf(ctx, 'key.expiring')).toEqual([
      { dedupKey: `key.expiring:${soon.id}:7d:${iso(soon)}`, data: { keyId: soon.id, keyName: 'soon', expiresAt: iso(soon), threshold: '7d' } },
    ]);

    now = at(2.5); // soon crossed 1 day (at +2 d)
    expect(await ctx.expirySweep.sweepOnce()).toBe(1);
    now = at(3.5); // far crossed 7 days (at +3 d), soon expired (at +3 d)
    expect(await ctx.expirySweep.sweepOnce()).toBe(2);
    expect(await ctx.expirySweep.sweepOnce()).toBe(0);
    expect((await alertsOf(ctx, 'key.expiring')).map((a) => a.dedupKey)).toEqual([
      `key.expiring:${soon.id}:7d:${iso(soon)}`,
      `key.expiring:${soon.id}:1d:${iso(soon)}`,
      `key.expiring:${far.id}:7d:${iso(far)}`,
    ]);
    expect(await alertsOf(ctx, 'key.expired')).toEqual([
      { dedupKey: `key.expired:${soon.id}:${iso(soon)}`, data: { keyId: soon.id, keyName: 'soon', expiresAt: iso(soon) } },
    ]);

    // A later expiry: the 7-day alert comes again when the new date is 7 days away.
    const moved = await ctx.keys.update(tenant.id, far.id, { expiresAt: at(20).toISOString() }, testActor);
    expect(await ctx.expirySweep.sweepOnce()).toBe(0);
    now = at(13.5); // the new expiry (+20 d) is 6.5 days away
    expect(await ctx.expirySweep.sweepOnce()).toBe(1);
    expect((await alertsOf(ctx, 'key.expiring')).at(-1)?.dedupKey).toBe(`key.expiring:${far.id}:7d:${iso(moved)}`);
    // The revoked key got its key.revoked alert, and no expiry alert.
    expect(JSON.stringify(await ctx.database.prisma.alert.findMany({ where: { type: { startsWith: 'key.expir' } } }))).not.toContain(revoked.id);
    expect(await alertsOf(ctx, 'key.revoked')).toHaveLength(1);
  });

  test('key.revoked: both instances hear the revocation, one alert is recorded', async () => {
    const a = await context({ alertWorkers: false });
    const b = await context({ alertWorkers: false });
    const heardByB = jest.spyOn(b.alerts, 'raise');
    const tenant = await buildTenant(a);
    const { apiKey } = await a.keys.create(tenant.id, buildKeyInput({ name: 'to revoke' }), testActor);
    await a.keys.revoke(tenant.id, apiKey.id, testActor);
    // B learns of it through the key-change feed (a remote change) and raises it too: refused.
    await eventually(() => heardByB.mock.calls.some(([input]) => input.type === 'key.revoked'));
    await eventually(async () => (await alertsOf(a, 'key.revoked')).length === 1);
    expect(await heardByB.mock.results.find((r) => r.type === 'return')?.value).toBe(false);
    // Revoking again (a no-op that is still announced) raises nothing new.
    await a.keys.revoke(tenant.id, apiKey.id, testActor);
    await new Promise((r) => setTimeout(r, 400));
    expect(await alertsOf(a, 'key.revoked')).toEqual([
      { dedupKey: `key.revoked:${apiKey.id}`, data: { keyId: apiKey.id, keyName: 'to revoke', revokedAt: expect.any(String) } },
    ]);
  });

  test('key.new_ip: once per new address of a key that asked for it; other keys never', async () => {
    const ctx = await context({ alertWorkers: false }, { trustProxy: ['loopback'] });
    const app = createApp(ctx);
    const tenant = await buildTenant(ctx);
    const watched = await ctx.keys.create(tenant.id, buildKeyInput({ name: 'watched', notifyOnNewIp: true }), testActor);
    const quiet = await ctx.keys.create(tenant.id, buildKeyInput({ name: 'quiet' }), testActor);
    const call = (key: string, ip: string) => request(app).get('/api/v1/models').set('Authorization', `Bearer ${key}`).set('X-Forwarded-For', ip).expect(200);

    await call(watched.key, '203.0.113.7');
    await call(watched.key, '203.0.113.7');
    await call(quiet.key, '203.0.113.7');
    await ctx.usage.flush();
    await eventually(async () => (await alertsOf(ctx, 'key.new_ip')).length === 1);
    await call(watched.key, '203.0.113.7');
    await call(watched.key, '2001:db8::5');
    await call(quiet.key, '198.51.100.1');
    await ctx.usage.flush();
    await eventually(async () => (await alertsOf(ctx, 'key.new_ip')).length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(await alertsOf(ctx, 'key.new_ip')).toEqual([
      { dedupKey: `key.new_ip:${watched.apiKey.id}:203.0.113.7`, data: { keyId: watched.apiKey.id, keyName: 'watched', ip: '203.0.113.7' } },
      { dedupKey: `key.new_ip:${watched.apiKey.id}:2001:db8::5`, data: { keyId: watched.apiKey.id, keyName: 'watched', ip: '2001:db8::5' } },
    ]);
  });
});
