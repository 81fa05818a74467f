import request from 'supertest';
import { createApp } from '../../src/app';
import { bootstrap, DEFAULT_TENANT_SLUG } from '../../src/bootstrap';
import { findPasswordHash, listTenantsOfUser } from '../../src/data/repositories/users';
import { listAuditEvents } from '../../src/data/repositories/audit-events';
import { buildKeyInput, buildTenant, createTestContext, type TestContext, testActor } from '../helpers/context';

describe('first start (bootstrap)', () => {
  let t: TestContext;
  afterEach(async () => t.close());

  it('creates the tenant "default" and the platform admin as its owner, once', async () => {
    t = await createTestContext('sqlite', { config: { admin: { email: 'root@example.com', password: undefined } } });
    const result = await bootstrap(t.ctx);
    expect(result).toMatchObject({ created: true, email: 'root@example.com', tenantSlug: DEFAULT_TENANT_SLUG });
    if (!result.created || !result.generatedPassword) throw new Error('expected a generated password');
    const admin = await t.ctx.users.getByEmail('root@example.com');
    expect(admin.isPlatformAdmin).toBe(true);
    const memberships = await listTenantsOfUser(t.ctx.database.prisma, admin.id);
    expect(memberships).toEqual([expect.objectContaining({ role: 'owner', tenant: expect.objectContaining({ slug: 'default' }) })]);
    const stored = await findPasswordHash(t.ctx.database.prisma, admin.id);
    expect(await t.ctx.passwords.verify(result.generatedPassword, stored as string)).toBe(true);
    expect(await bootstrap(t.ctx)).toEqual({ created: false });
  });

  it('uses ADMIN_PASSWORD when set and reports no generated password', async () => {
    t = await createTestContext('sqlite');
    const result = await bootstrap(t.ctx);
    expect(result).toMatchObject({ created: true, email: 'admin@example.com', generatedPassword: null });
  });

  it('lets exactly one of two simultaneous starts create the admin', async () => {
    t = await createTestContext('sqlite');
    const results = await Promise.all([bootstrap(t.ctx), bootstrap(t.ctx)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await t.ctx.database.prisma.user.count()).toBe(1);
  });
});

describe('tenants and users', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
  });
  afterAll(async () => t.close());

  it('validates tenant names and slugs and refuses taken slugs with 409', async () => {
    await expect(t.ctx.tenants.create({ name: '', slug: 'Bad Slug' }, testActor)).rejects.toMatchObject({
      status: 400,
      details: [
        { field: 'name', message: 'must not be blank' },
        { field: 'slug', message: 'must be 1-50 lower-case letters, digits or inner hyphens' },
      ],
    });
    await t.ctx.tenants.create({ name: 'Acme', slug: 'acme' }, testActor);
    await expect(t.ctx.tenants.create({ name: 'Acme 2', slug: 'acme' }, testActor)).rejects.toMatchObject({ status: 409, code: 'conflict' });
  });

  it('renames tenants with an audit event', async () => {
    const tenant = await buildTenant(t.ctx);
    const renamed = await t.ctx.tenants.rename(tenant.id, { name: 'Renamed' }, testActor);
    expect(renamed.name).toBe('Renamed');
    const events = await listAuditEvents(t.ctx.database, { tenantId: tenant.id, page: 1, size: 10 });
    expect(events.rows.map((e) => e.action)).toEqual(['tenant.rename', 'tenant.create']);
  });

  it('creates users with lower-cased unique emails, memberships and roles', async () => {
    const tenant = await buildTenant(t.ctx);
    const user = await t.ctx.users.create({ email: ' Mixed@Example.COM ', password: 'twelve chars!' }, testActor);
    expect(user.email).toBe('mixed@example.com');
    await expect(t.ctx.users.create({ email: 'mixed@example.com', password: 'twelve chars!' }, testActor)).rejects.toMatchObject({ status: 409 });
    await expect(t.ctx.users.create({ email: 'not-an-email', password: 'short' }, testActor)).rejects.toMatchObject({
      details: [
        { field: 'email', message: 'must be an email address' },
        { field: 'password', message: 'must be at least 12 characters' },
      ],
    });
    await t.ctx.users.setMembership(user.id, tenant.id, 'member', testActor);
    const membership = await t.ctx.users.setMembership(user.id, tenant.id, 'admin', testActor);
    expect(membership.role).toBe('admin');
    await expect(t.ctx.users.setMembership(user.id, tenant.id, 'boss', testActor)).rejects.toMatchObject({
      details: [{ field: 'role', message: 'must be one of owner, admin, member' }],
    });
    const events = await listAuditEvents(t.ctx.database, { tenantId: tenant.id, page: 1, size: 10 });
    expect(events.rows.map((e) => e.action)).toEqual(['member.role_change', 'member.add', 'tenant.create']);
  });
});

describe('atomic audit trail', () => {
  it('rolls a key change back when its audit event cannot be written', async () => {
    const t = await createTestContext('sqlite');
    try {
      const tenant = await buildTenant(t.ctx);
      const { apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
      await t.ctx.database.prisma.$executeRawUnsafe('ALTER TABLE "audit_events" RENAME TO "audit_events_gone"');
      await expect(t.ctx.keys.revoke(tenant.id, apiKey.id, testActor)).rejects.toThrow();
      await expect(t.ctx.keys.create(tenant.id, buildKeyInput({ name: 'never' }), testActor)).rejects.toThrow();
      expect((await t.ctx.keys.get(tenant.id, apiKey.id)).status).toBe('active');
      expect((await t.ctx.keys.list(tenant.id, {})).total).toBe(1);
    } finally {
      await t.close();
    }
  });
});

describe('GET /healthz', () => {
  it('answers 200 {"status":"ok"} while the database answers, and 503 with a code when it does not', async () => {
    const t = await createTestContext('sqlite');
    const app = createApp(t.ctx);
    const ok = await request(app).get('/healthz');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'ok', checks: { database: { status: 'up' } } });
    t.ctx.database.ping = () => Promise.reject(new Error('disk on fire'));
    const down = await request(app).get('/healthz');
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.body.error.code).toBe('database_unavailable');
    expect(down.body.checks.database.status).toBe('down');
    expect(JSON.stringify(down.body)).not.toContain('disk on fire');
    await t.close();
  });

  it('answers 503 within 2 s when the database never answers', async () => {
    const t = await createTestContext('sqlite');
    const app = createApp(t.ctx);
    t.ctx.database.ping = () => new Promise(() => undefined);
    const started = Date.now();
    const down = await request(app).get('/healthz');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(down.status).toBe(503);
    expect(down.body.checks.database).toMatchObject({ status: 'down' });
    await t.close();
  });

  it('answers unknown routes with a 404 JSON error', async () => {
    const t = await createTestContext('sqlite');
    const res = await request(createApp(t.ctx)).get('/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: 'No such route.', type: 'not_found_error' } });
    expect(res.headers['x-request-id']).toBeDefined();
    await t.close();
  });
});
