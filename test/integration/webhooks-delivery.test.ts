/**
 * Webhook delivery end to end, against a real local receiver: Standard Webhooks signatures checked
 * by an independent HMAC, retries until a 2xx with the attempts in the delivery log, giving up
 * after the deadline, redirects not followed, delivery after a restart, and exactly one delivery
 * when two instances share the database.
 */
import type { AppContext } from '../../src/context';
import { generateWebhookSecret } from '../../src/webhooks/webhook-secret';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildTenant, testActor } from '../helpers/context';
import { availableProviders, createTestDatabase, type TestDatabase } from '../helpers/databases';
import { eventually, type Receiver, startReceiver, verifySignature } from '../helpers/webhook-receiver';
import { openContext } from '../helpers/webhook-context';

describe.each(availableProviders)('webhook delivery on %s', (provider) => {
  let db: TestDatabase;
  const open: AppContext[] = [];
  const receivers: Receiver[] = [];

  beforeEach(async () => {
    db = await createTestDatabase(provider);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((ctx) => ctx.close()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    await db.drop();
  });

  const context = async (...args: Parameters<typeof openContext> extends [unknown, ...infer R] ? R : never) => {
    const ctx = await openContext(db, ...args);
    open.push(ctx);
    return ctx;
  };
  const receiver = async (answer?: (n: number) => number, port?: number) => {
    const r = await startReceiver(answer, port);
    receivers.push(r);
    return r;
  };
  const alert = (tenantId: string, dedupKey = `key.revoked:${Math.random()}`) =>
    ({ tenantId, type: 'key.revoked' as const, dedupKey, data: { keyId: 'AbCd1234EfGh', keyName: 'prod' } });

  test('signed per Standard Webhooks; 503s are retried until a 200; the log shows every attempt', async () => {
    const ctx = await context({}, { metrics: { token: 'a-metrics-token-for-tests' } });
    const hook = await receiver((n) => (n < 2 ? 503 : 200));
    const tenant = await buildTenant(ctx);
    const { webhook, secret } = await ctx.webhooks.create(tenant.id, { url: hook.url, events: ['key.revoked'] }, testActor);
    const before = Math.floor(Date.now() / 1000);
    expect(await ctx.alerts.raise(alert(tenant.id))).toBe(true);

    await hook.waitFor(3);
    await eventually(async () => (await ctx.webhooks.deliveries(tenant.id, webhook.id))[0]?.status === 'delivered');
    expect(hook.deliveredIds()).toHaveLength(1);
    const [first, , last] = hook.received;
    const [stored] = await ctx.alerts.listRecent(tenant.id, 5);
    for (const got of hook.received) {
      expect(got.headers['webhook-id']).toBe(stored.id);
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['user-agent']).toBe('Keyward-Webhooks');
      expect(Number(got.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(before);
      expect(verifySignature(secret as string, got)).toBe(true);
      expect(verifySignature(generateWebhookSecret(), got)).toBe(false);
    }
    // A body changed in transit fails verification.
    expect(verifySignature(secret as string, { ...last, body: last.body.replace('prod', 'test') })).toBe(false);
    expect(first.body).toBe(last.body);
    expect(JSON.parse(last.body)).toEqual({
      type: 'key.revoked',
      timestamp: stored.createdAt.toISOString(),
      data: { keyId: 'AbCd1234EfGh', keyName: 'prod', tenantId: tenant.id },
    });
    const [delivery] = await ctx.webhooks.deliveries(tenant.id, webhook.id);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200, lastError: null, alertId: stored.id });
    const metrics = await ctx.metrics?.registry.metrics();
    expect(metrics).toContain('keyward_webhook_attempts_total{result="retry"} 2');
    expect(metrics).toContain('keyward_webhook_attempts_total{result="delivered"} 1');
  });

  test('a redirect is not followed, and a delivery still failing at its deadline is marked failed', async () => {
    const ctx = await context({ webhookDelivery: { retryDelaysMs: [40], giveUpAfterMs: 300 } });
    const target = await receiver(() => 200);
    const hook = await receiver(() => 302);
    const tenant = await buildTenant(ctx);
    const { webhook } = await ctx.webhooks.create(tenant.id, { url: hook.url, events: ['key.revoked'] }, testActor);
    await ctx.alerts.raise(alert(tenant.id));
    await eventually(async () => (await ctx.webhooks.deliveries(tenant.id, webhook.id))[0]?.status === 'failed');
    const [delivery] = await ctx.webhooks.deliveries(tenant.id, webhook.id);
    expect(delivery.attempts).toBeGreaterThanOrEqual(2);
    expect(delivery).toMatchObject({ lastStatusCode: 302, lastError: 'answered HTTP 302' });
    expect(target.received).toHaveLength(0);
    const attempts = hook.received.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(hook.received).toHaveLength(attempts);
  });

  test('only webhooks listening for the type, enabled, of that tenant get a delivery', async () => {
    const ctx = await context();
    const hook = await receiver();
    const tenant = await buildTenant(ctx);
    const other = await buildTenant(ctx);
    const listening = await ctx.webhooks.create(tenant.id, { url: hook.url, events: ['key.revoked', 'key.expired'] }, testActor);
    const deaf = await ctx.webhooks.create(tenant.id, { url: hook.url, events: ['key.expired'] }, testActor);
    const disabled = await ctx.webhooks.create(tenant.id, { url: hook.url, events: ['key.revoked'], enabled: false }, testActor);
    const foreign = await ctx.webhooks.create(other.id, { url: hook.url, events: ['key.revoked'] }, testActor);
    await ctx.alerts.raise(alert(tenant.id));
    await hook.waitFor(1);
    const count = async (id: string, tenantId = tenant.id) => (await ctx.webhooks.deliveries(tenantId, id)).length;
    expect(await count(listening.webhook.id)).toBe(1);
    expect(await count(deaf.webhook.id)).toBe(0);
    expect(await count(disabled.webhook.id)).toBe(0);
    expect(await count(foreign.webhook.id, other.id)).toBe(0);
  });

  test('after a restart: queued while the receiver was down, delivered once by the next process', async () => {
    // A port with nobody listening: the first process's attempts are refused.
    const probe = await startReceiver();
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const first = await context({ webhookDelivery: { retryDelaysMs: [100] } });
    const tenant = await buildTenant(first);
    const { webhook } = await first.webhooks.create(tenant.id, { url: `http://127.0.0.1:${port}/hooks`, events: ['key.revoked'] }, testActor);
    await first.alerts.raise(alert(tenant.id));
    await eventually(async () => ((await first.webhooks.deliveries(tenant.id, webhook.id))[0]?.attempts ?? 0) >= 1);
    const [refused] = await first.webhooks.deliveries(tenant.id, webhook.id);
    expect(refused).toMatchObject({ status: 'pending', lastError: 'connection refused', lastStatusCode: null });
    await first.close();
    open.splice(open.indexOf(first), 1);

    const hook = await receiver(() => 200, port);
    const second = await context();
    await eventually(async () => (await second.webhooks.deliveries(tenant.id, webhook.id))[0]?.status === 'delivered');
    expect(hook.deliveredIds()).toHaveLength(1);
    expect(hook.received).toHaveLength(1);
  });

  test('stopping mid-attempt releases the row: due again at once, the attempt not counted, then delivered once', async () => {
    const hanging = await startHanging();
    const first = await context({ webhookDelivery: { retryDelaysMs: [50], timeoutMs: 60_000 } });
    const tenant = await buildTenant(first);
    const { webhook } = await first.webhooks.create(tenant.id, { url: hanging.url, events: ['key.revoked'] }, testActor);
    await first.alerts.raise(alert(tenant.id));
    await eventually(() => hanging.count() === 1);
    const stoppedAt = Date.now();
    await first.close();
    open.splice(open.indexOf(first), 1);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    await hanging.close();

    // Read by a process that delivers nothing: a running deliverer would claim the row at once
    // (its lease puts nextAttemptAt 40 s ahead), hiding what the stop left.
    const reader = await context({ alertWorkers: false });
    const [row] = await reader.database.prisma.webhookDelivery.findMany();
    expect(row).toMatchObject({ status: 'pending', attempts: 0 });
    expect(row.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now());

    const hook = await receiver();
    const second = await context();
    await second.webhooks.update(tenant.id, webhook.id, { url: hook.url }, testActor);
    await eventually(async () => (await second.webhooks.deliveries(tenant.id, webhook.id))[0]?.status === 'delivered');
    expect(hook.deliveredIds()).toHaveLength(1);
  });

  test('two instances on one database: one alert, one delivery; the same dedupKey raised by both is one alert', async () => {
    // Workers start after the alerts are queued: on SQLite two clients in one process would block
    // each other (a transaction open in one, a synchronous write waiting in the other). Instances
    // of one SQLite file are separate processes; PostgreSQL runs the raises concurrently too.
    const a = await context({ alertWorkers: false });
    const b = await context({ alertWorkers: false });
    const hook = await receiver();
    const tenant = await buildTenant(a);
    await a.webhooks.create(tenant.id, { url: hook.url, events: ['key.revoked'] }, testActor);
    const raised =
      provider === 'postgresql'
        ? await Promise.all([a.alerts.raise(alert(tenant.id, 'same')), b.alerts.raise(alert(tenant.id, 'same'))])
        : [await a.alerts.raise(alert(tenant.id, 'same')), await b.alerts.raise(alert(tenant.id, 'same'))];
    expect(raised.sort()).toEqual([false, true]);
    expect(await a.database.prisma.alert.count()).toBe(1);
    expect(await a.database.prisma.webhookDelivery.count()).toBe(1);
    for (let i = 0; i < 11; i += 1) await (i % 2 ? a : b).alerts.raise(alert(tenant.id, `many-${i}`));
    // Both workers poll the same 12 due rows at once.
    a.webhookDeliverer.start();
    b.webhookDeliverer.start();
    await hook.waitFor(12);
    await eventually(async () => (await a.database.prisma.webhookDelivery.count({ where: { status: 'delivered' } })) === 12);
    await new Promise((r) => setTimeout(r, 300));
    expect(hook.received).toHaveLength(12);
    expect(hook.deliveredIds()).toHaveLength(12);
  });
});

/** A receiver that never answers (a stalled endpoint). */
async function startHanging(): Promise<{ url: string; count(): number; close(): Promise<void> }> {
  let count = 0;
  const server = http.createServer(() => {
    count += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    count: () => count,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
