/**
 * /api/v1/webhooks and /api/v1/alerts: every route checked against the served OpenAPI document,
 * scopes (reads keys:read, changes admin), tenant isolation, validation naming the field, secrets
 * only where promised and never in the audit log, the test event and redelivery, and the URL rules
 * with and without WEBHOOK_ALLOW_PRIVATE.
 */
import request from 'supertest';
import { urlProblem } from '../../src/webhooks/webhook-url';
import { createTestApp, type TestApp } from '../helpers/app';
import { buildKeyInput, buildTenant, testActor } from '../helpers/context';
import { SpecValidator } from '../helpers/openapi';
import { eventually, type Receiver, startReceiver, verifySignature } from '../helpers/webhook-receiver';

let t: TestApp;
let spec: SpecValidator;
let admin: string;
let reader: string;
let writer: string;
let hook: Receiver;

beforeAll(async () => {
  t = await createTestApp('sqlite', { config: { webhooks: { allowPrivate: true, pollMs: 25 } } });
  spec = new SpecValidator((await request(t.app).get('/api/openapi.json')).body);
  admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
  reader = (await t.issue({ scopes: ['keys:read'], tier: 'enterprise' })).key;
  writer = (await t.issue({ scopes: ['keys:read', 'keys:write'], tier: 'enterprise' })).key;
  hook = await startReceiver();
});
afterAll(async () => {
  await t.close();
  await hook.close();
});

type Method = 'get' | 'post' | 'patch' | 'delete';
async function call(method: Method, path: string, template: string, key = admin, body?: unknown) {
  let req = request(t.app)[method](path).set('Authorization', `Bearer ${key}`);
  if (body !== undefined) req = req.send(body as object);
  const res = await req;
  spec.check(res, method, template);
  return res;
}

test('create, read, change, rotate, delete: as documented, secret only on create and rotation, every change audited without it', async () => {
  const created = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: hook.url, events: ['key.revoked', 'key.expiring'], description: 'ops' });
  expect(created.status).toBe(201);
  const { id, secret } = created.body;
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
  expect(created.body).toMatchObject({ url: hook.url, events: ['key.revoked', 'key.expiring'], enabled: true, description: 'ops' });

  const list = await call('get', '/api/v1/webhooks', '/api/v1/webhooks', reader);
  expect(list.status).toBe(200);
  expect(list.body.data.map((w: { id: string }) => w.id)).toContain(id);
  const one = await call('get', `/api/v1/webhooks/${id}`, '/api/v1/webhooks/{id}', reader);
  expect(one.body).not.toHaveProperty('secret');
  expect(JSON.stringify(list.body)).not.toContain(secret);

  const changed = await call('patch', `/api/v1/webhooks/${id}`, '/api/v1/webhooks/{id}', admin, { enabled: false, events: ['key.expired'] });
  expect(changed.status).toBe(200);
  expect(changed.body).toMatchObject({ enabled: false, events: ['key.expired'] });
  expect(changed.body).not.toHaveProperty('secret');
  const rotated = await call('patch', `/api/v1/webhooks/${id}`, '/api/v1/webhooks/{id}', admin, { rotateSecret: true });
  expect(rotated.body.secret).toMatch(/^whsec_/);
  expect(rotated.body.secret).not.toBe(secret);

  const deleted = await call('delete', `/api/v1/webhooks/${id}`, '/api/v1/webhooks/{id}', admin);
  expect(deleted.status).toBe(204);
  expect((await call('get', `/api/v1/webhooks/${id}`, '/api/v1/webhooks/{id}', reader)).status).toBe(404);

  const events = await t.ctx.database.prisma.auditEvent.findMany({ where: { targetId: id }, orderBy: { createdAt: 'asc' } });
  expect(events.map((e) => e.action)).toEqual(['webhook.create', 'webhook.update', 'webhook.rotate_secret', 'webhook.delete']);
  expect(events.every((e) => e.targetType === 'webhook' && e.actorType === 'api_key')).toBe(true);
  expect(events[2].changes).toEqual({ secret: { before: '(previous)', after: '(rotated)' } });
  const stored = JSON.stringify(events) + JSON.stringify(await t.ctx.database.prisma.webhook.findMany());
  expect(stored).not.toContain(secret.slice(6));
  expect(stored).not.toContain(rotated.body.secret.slice(6));
});

test('a client-supplied secret is used as given; malformed ones are refused naming the field', async () => {
  const own = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
  const res = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: hook.url, events: ['key.revoked'], secret: own });
  expect(res.body.secret).toBe(own);
  for (const secret of ['whsec_short', `whsec_${Buffer.alloc(23).toString('base64')}`, `whsec_${Buffer.alloc(65).toString('base64')}`, Buffer.alloc(32).toString('base64'), 'whsec_!!!!']) {
    const bad = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: hook.url, events: ['key.revoked'], secret });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([{ field: 'secret', message: expect.stringContaining('whsec_') }]);
  }
});

test('bad input: 400 validation_error naming each field', async () => {
  const cases: [unknown, string[]][] = [
    [{ events: ['key.revoked'] }, ['url']],
    [{ url: hook.url }, ['events']],
    [{ url: hook.url, events: [] }, ['events']],
    [{ url: hook.url, events: ['key.stolen'] }, ['events.0']],
    [{ url: hook.url, events: ['webhook.test'] }, ['events.0']],
    [{ url: 'ftp://example.com/x', events: ['key.revoked'] }, ['url']],
    [{ url: 'https://user:pw@example.com/x', events: ['key.revoked'] }, ['url']],
    [{ url: `https://example.com/${'a'.repeat(2000)}`, events: ['key.revoked'] }, ['url']],
    [{ url: hook.url, events: ['key.revoked'], enabled: 'yes', extra: 1 }, ['enabled', 'extra']],
    [[1, 2], ['(body)']],
  ];
  for (const [body, fields] of cases) {
    const res = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, body);
    expect({ body, status: res.status, code: res.body.error?.code }).toEqual({ body, status: 400, code: 'validation_error' });
    expect(res.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(fields.sort());
  }
  const { body: created } = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: hook.url, events: ['key.revoked'] });
  const patch = await call('patch', `/api/v1/webhooks/${created.id}`, '/api/v1/webhooks/{id}', admin, { rotateSecret: 'please', url: 'javascript:alert(1)' });
  expect(patch.status).toBe(400);
  expect(patch.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['rotateSecret', 'url']);
  const limit = await call('get', `/api/v1/webhooks/${created.id}/deliveries?limit=0`, '/api/v1/webhooks/{id}/deliveries', reader);
  expect(limit.status).toBe(400);
  expect(limit.body.error.details[0].field).toBe('limit');
});

test('scopes: keys:read reads; every change needs admin (keys:write is not enough)', async () => {
  const { body: created } = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: hook.url, events: ['key.revoked'] });
  const before = await t.ctx.database.prisma.webhook.count();
  const changes: [Method, string, string, unknown?][] = [
    ['post', '/api/v1/webhooks', '/api/v1/webhooks', { url: hook.url, events: ['key.revoked'] }],
    ['patch', `/api/v1/webhooks/${created.id}`, '/api/v1/webhooks/{id}', { enabled: false }],
    ['delete', `/api/v1/webhooks/${created.id}`, '/api/v1/webhooks/{id}'],
    ['post', `/api/v1/webhooks/${created.id}/test`, '/api/v1/webhooks/{id}/test'],
  ];
  for (const key of [reader, writer]) {
    for (const [method, path, template, body] of changes) {
      const res = await call(method, path, template, key, body);
      expect({ path, method, status: res.status, code: res.body.error?.code }).toEqual({ path, method, status: 403, code: 'insufficient_scope' });
    }
  }
  expect(await t.ctx.database.prisma.webhook.count()).toBe(before);
  expect((await call('get', `/api/v1/webhooks/${created.id}`, '/api/v1/webhooks/{id}', writer)).status).toBe(200);
  const { key: apiOnly } = await t.issue({ scopes: ['api'] });
  expect((await call('get', '/api/v1/webhooks', '/api/v1/webhooks', apiOnly)).status).toBe(403);
  expect((await call('get', '/api/v1/alerts', '/api/v1/alerts', apiOnly)).status).toBe(403);
  expect((await request(t.app).get('/api/v1/webhooks')).status).toBe(401);
});

test("another tenant's webhooks and deliveries read as 404", async () => {
  const other = await buildTenant(t.ctx);
  const { webhook } = await t.ctx.webhooks.create(other.id, { url: hook.url, events: ['key.revoked'] }, testActor);
  await t.ctx.alerts.raise({ tenantId: other.id, type: 'key.revoked', dedupKey: 'other', data: {} });
  const [delivery] = await t.ctx.webhooks.deliveries(other.id, webhook.id);
  const paths: [Method, string, string, unknown?][] = [
    ['get', `/api/v1/webhooks/${webhook.id}`, '/api/v1/webhooks/{id}'],
    ['patch', `/api/v1/webhooks/${webhook.id}`, '/api/v1/webhooks/{id}', { enabled: false }],
    ['delete', `/api/v1/webhooks/${webhook.id}`, '/api/v1/webhooks/{id}'],
    ['get', `/api/v1/webhooks/${webhook.id}/deliveries`, '/api/v1/webhooks/{id}/deliveries'],
    ['post', `/api/v1/webhooks/${webhook.id}/deliveries/${delivery.id}/redeliver`, '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver'],
    ['post', `/api/v1/webhooks/${webhook.id}/test`, '/api/v1/webhooks/{id}/test'],
  ];
  for (const [method, path, template, body] of paths) {
    const res = await call(method, path, template, admin, body);
    expect({ path, status: res.status, code: res.body.error?.code }).toEqual({ path, status: 404, code: 'not_found' });
  }
  expect((await t.ctx.webhooks.get(other.id, webhook.id)).enabled).toBe(true);
  const alerts = await call('get', '/api/v1/alerts', '/api/v1/alerts', reader);
  expect(JSON.stringify(alerts.body)).not.toContain(other.id);
});

test('the test event reaches this webhook only, signed; the log lists it; redeliver sends it again with the same id', async () => {
  const quiet = await startReceiver();
  try {
    const { body: target } = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: quiet.url, events: ['key.expired'] });
    const { body: bystander } = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: hook.url, events: ['key.expired'] });
    const sent = await call('post', `/api/v1/webhooks/${target.id}/test`, '/api/v1/webhooks/{id}/test');
    expect(sent.status).toBe(202);
    await quiet.waitFor(1);
    expect(verifySignature(target.secret, quiet.received[0])).toBe(true);
    expect(JSON.parse(quiet.received[0].body)).toMatchObject({ type: 'webhook.test', data: { webhookId: target.id, tenantId: t.tenant.id } });
    const log = await call('get', `/api/v1/webhooks/${target.id}/deliveries`, '/api/v1/webhooks/{id}/deliveries', reader);
    await eventually(async () => (await t.ctx.webhooks.deliveries(t.tenant.id, target.id))[0].status === 'delivered');
    expect(log.body.data).toHaveLength(1);
    expect((await call('get', `/api/v1/webhooks/${bystander.id}/deliveries`, '/api/v1/webhooks/{id}/deliveries', reader)).body.data).toEqual([]);

    const again = await call('post', `/api/v1/webhooks/${target.id}/deliveries/${log.body.data[0].id}/redeliver`, '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver');
    expect(again.status).toBe(202);
    await quiet.waitFor(2);
    expect(quiet.received[1].headers['webhook-id']).toBe(quiet.received[0].headers['webhook-id']);
    await eventually(async () => (await t.ctx.webhooks.deliveries(t.tenant.id, target.id))[0].status === 'delivered');
    const after = await call('get', `/api/v1/webhooks/${target.id}/deliveries?limit=10`, '/api/v1/webhooks/{id}/deliveries', reader);
    expect(after.body.data[0]).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200, type: 'webhook.test', nextAttemptAt: null });
    const missing = await call('post', `/api/v1/webhooks/${target.id}/deliveries/nope/redeliver`, '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver');
    expect(missing.status).toBe(404);

    const alerts = await call('get', '/api/v1/alerts?limit=5', '/api/v1/alerts', reader);
    expect(alerts.body.data[0]).toMatchObject({ type: 'webhook.test', data: { webhookId: target.id, tenantId: t.tenant.id } });
  } finally {
    await quiet.close();
  }
});

test('a key revoked through the API reaches a listening webhook as key.revoked', async () => {
  const listener = await startReceiver();
  try {
    const { body: target } = await call('post', '/api/v1/webhooks', '/api/v1/webhooks', admin, { url: listener.url, events: ['key.revoked'] });
    const { apiKey } = await t.ctx.keys.create(t.tenant.id, buildKeyInput({ name: 'leaked' }), testActor);
    await call('post', `/api/v1/keys/${apiKey.id}/revoke`, '/api/v1/keys/{id}/revoke');
    await listener.waitFor(1);
    expect(verifySignature(target.secret, listener.received[0])).toBe(true);
    expect(JSON.parse(listener.received[0].body)).toMatchObject({ type: 'key.revoked', data: { keyId: apiKey.id, keyName: 'leaked', tenantId: t.tenant.id } });
  } finally {
    await listener.close();
  }
});

describe('URL rules without WEBHOOK_ALLOW_PRIVATE', () => {
  test.each([
    'http://127.0.0.1/x',
    'http://10.1.2.3/x',
    'http://169.254.169.254/latest/meta-data',
    'http://100.64.0.1/x',
    'http://[::1]/x',
    'http://[fc00::1]/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://0.0.0.0/x',
    'http://224.0.0.1/x',
    'http://localhost:8080/x',
  ])('%s is refused', async (url) => {
    expect(await urlProblem(url, false)).toMatch(/non-public|private/);
    expect(await urlProblem(url, true)).toBeNull();
  });

  test('http and https public addresses pass; other schemes never', async () => {
    expect(await urlProblem('https://93.184.215.14/hook', false)).toBeNull();
    expect(await urlProblem('http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook', false)).toBeNull();
    expect(await urlProblem('file:///etc/passwd', true)).toMatch(/http or https/);
    expect(await urlProblem('gopher://example.com/', true)).toMatch(/http or https/);
  });

  test('the API refuses private targets and the worker will not connect to them', async () => {
    // A second app on a context that refuses private addresses.
    const s = await createTestApp('sqlite', { config: { webhooks: { allowPrivate: false, pollMs: 25 } } });
    try {
      const key = (await s.issue({ scopes: ['admin'] })).key;
      const res = await request(s.app).post('/api/v1/webhooks').set('Authorization', `Bearer ${key}`).send({ url: hook.url, events: ['key.revoked'] });
      expect(res.status).toBe(400);
      expect(res.body.error.details).toEqual([{ field: 'url', message: expect.stringMatching(/non-public/) }]);
      const local = await request(s.app).post('/api/v1/webhooks').set('Authorization', `Bearer ${key}`).send({ url: 'http://localhost:1/x', events: ['key.revoked'] });
      expect(local.body.error.details[0].field).toBe('url');
      expect(await s.ctx.database.prisma.webhook.count()).toBe(0);
      // A row that points at a private address anyway (saved while allowed): refused at delivery.
      const { webhook } = await t.ctx.webhooks.create(t.tenant.id, { url: hook.url, events: ['key.revoked'] }, testActor);
      await s.ctx.database.prisma.tenant.create({ data: { id: t.tenant.id, name: 'copy', slug: `copy-${Date.now()}` } });
      await s.ctx.database.prisma.webhook.create({ data: { ...(await t.ctx.database.prisma.webhook.findUniqueOrThrow({ where: { id: webhook.id } })) } });
      const received = hook.received.length;
      await s.ctx.alerts.raise({ tenantId: t.tenant.id, type: 'key.revoked', dedupKey: 'private', data: {} });
      await eventually(async () => ((await s.ctx.webhooks.deliveries(t.tenant.id, webhook.id))[0]?.attempts ?? 0) >= 1);
      const [delivery] = await s.ctx.webhooks.deliveries(t.tenant.id, webhook.id);
      expect(delivery.lastError).toMatch(/URL refused/);
      expect(hook.received).toHaveLength(received);
    } finally {
      await s.close();
    }
  });
});
