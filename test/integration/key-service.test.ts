import { COMMANDS } from '../../src/cli/commands';
import { listAuditEvents } from '../../src/data/repositories/audit-events';
import { AppError } from '../../src/errors';
import type { KeyChange } from '../../packages/guard/src/keys/key-events';
import type { Tenant, User } from '../../src/tenants/tenant-types';
import { availableProviders } from '../helpers/databases';
import { buildKeyInput, buildTenant, buildUser, createTestContext, type TestContext, testActor } from '../helpers/context';

describe.each(availableProviders)('KeyService on %s', (provider) => {
  let t: TestContext;
  let now: Date;
  let tenant: Tenant;
  let otherTenant: Tenant;
  let owner: User;
  let changes: KeyChange[];

  beforeAll(async () => {
    now = new Date('2026-11-22T12:00:00Z');
    t = await createTestContext(provider, { clock: () => now });
    tenant = await buildTenant(t.ctx);
    otherTenant = await buildTenant(t.ctx);
    owner = await buildUser(t.ctx, tenant, { role: 'member' });
    t.ctx.keyEvents.subscribe((change) => changes.push(change));
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => {
    now = new Date('2026-11-22T12:00:00Z');
    changes = [];
  });

  const auditOf = async (keyId: string) =>
    (await listAuditEvents(t.ctx.database, { tenantId: tenant.id, targetId: keyId, page: 1, size: 50 })).rows;

  async function expectAppError(promise: Promise<unknown>, status: number, code: string): Promise<AppError> {
    const error = await promise.then(
      () => {
        throw new Error('expected an error');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(status);
    expect((error as AppError).code).toBe(code);
    return error as AppError;
  }

  it('creates a key, returns the secret once and stores only its hash', async () => {
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput({ tags: ['prod'], ownerId: owner.id }), testActor);
    expect(key.startsWith(`kw_${apiKey.id}_`)).toBe(true);
    expect(apiKey.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(apiKey.last4).toBe(key.slice(-4));
    const row = await t.ctx.database.prisma.apiKey.findUnique({ where: { id: apiKey.id } });
    expect(JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))).not.toContain(key.slice(16, 40));
    expect(apiKey).toMatchObject({ status: 'active', tags: ['prod'], ownerId: owner.id, scopes: ['api'], tier: 'free' });
    const [event] = await auditOf(apiKey.id);
    expect(event).toMatchObject({ action: 'key.create', actorType: 'system', actorLabel: 'test', targetType: 'api_key' });
    expect(event.changes).toMatchObject({ name: { before: null, after: apiKey.name }, tags: { after: ['prod'] } });
    expect(changes).toEqual([{ keyId: apiKey.id, tenantId: tenant.id, kind: 'created', changeId: expect.any(Number) }]);
  });

  it('writes nothing when input is invalid, naming every bad field', async () => {
    const before = await t.ctx.database.prisma.apiKey.count();
    const auditBefore = await t.ctx.database.prisma.auditEvent.count();
    const error = await expectAppError(
      t.ctx.keys.create(tenant.id, { name: '', allowedIps: ['nope'], budget: { limitCents: -5, period: 'total' } }, testActor),
      400,
      'validation_error',
    );
    expect(error.details?.map((d) => d.field).sort()).toEqual(['allowedIps.0', 'budget.limitCents', 'name']);
    expect(await t.ctx.database.prisma.apiKey.count()).toBe(before);
    expect(await t.ctx.database.prisma.auditEvent.count()).toBe(auditBefore);
  });

  it('refuses an owner who is not a member of the tenant', async () => {
    const stranger = await buildUser(t.ctx, otherTenant);
    const error = await expectAppError(t.ctx.keys.create(tenant.id, buildKeyInput({ ownerId: stranger.id }), testActor), 400, 'validation_error');
    expect(error.details).toEqual([{ field: 'ownerId', message: 'is not a member of this tenant' }]);
  });

  it('verifies: good key, garbage, bad checksum, unknown id, wrong secret', async () => {
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    expect(await t.ctx.keys.verify(key)).toMatchObject({ ok: true, apiKey: { id: apiKey.id } });
    expect(await t.ctx.keys.verify('garbage')).toEqual({ ok: false, code: 'invalid_api_key' });
    expect(await t.ctx.keys.verify(`${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`)).toEqual({ ok: false, code: 'invalid_api_key' });
    const { key: stranger } = await t.ctx.keys.create(otherTenant.id, buildKeyInput(), testActor);
    await t.ctx.keys.delete(otherTenant.id, stranger.split('_')[1], testActor);
    expect(await t.ctx.keys.verify(stranger)).toEqual({ ok: false, code: 'invalid_api_key' });
    // A well-formed key with the right id and checksum but a different secret.
    const { generateKey } = await import('@keyward/guard');
    expect(await t.ctx.keys.verify(generateKey('kw', apiKey.id).key)).toEqual({ ok: false, code: 'invalid_api_key' });
  });

  it('revokes for good: verify says key_revoked and activation is refused (409)', async () => {
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    const revoked = await t.ctx.keys.revoke(tenant.id, apiKey.id, testActor);
    expect(revoked.status).toBe('revoked');
    expect(revoked.revokedAt).toEqual(now);
    expect(await t.ctx.keys.verify(key)).toEqual({ ok: false, code: 'key_revoked' });
    await expectAppError(t.ctx.keys.activate(tenant.id, apiKey.id, testActor), 409, 'invalid_state');
    await expectAppError(t.ctx.keys.deactivate(tenant.id, apiKey.id, testActor), 409, 'invalid_state');
    await expectAppError(t.ctx.keys.regenerate(tenant.id, apiKey.id, testActor), 409, 'invalid_state');
    expect((await auditOf(apiKey.id)).map((e) => e.action)).toEqual(['key.revoke', 'key.create']);
    expect(changes.map((c) => c.kind)).toEqual(['created', 'revoked']);
  });

  it('deactivates and activates again', async () => {
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    await t.ctx.keys.deactivate(tenant.id, apiKey.id, testActor);
    expect(await t.ctx.keys.verify(key)).toEqual({ ok: false, code: 'key_inactive' });
    await t.ctx.keys.activate(tenant.id, apiKey.id, testActor);
    expect((await t.ctx.keys.verify(key)).ok).toBe(true);
    const events = await auditOf(apiKey.id);
    expect(events[0]).toMatchObject({ action: 'key.activate', changes: { status: { before: 'inactive', after: 'active' } } });
    expect(events[1]).toMatchObject({ action: 'key.deactivate', changes: { status: { before: 'active', after: 'inactive' } } });
  });

  it('expires keys at their expiry time', async () => {
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput({ expiresInDays: 1 }), testActor);
    expect((await t.ctx.keys.verify(key)).ok).toBe(true);
    now = new Date(now.getTime() + 86_400_000);
    expect(await t.ctx.keys.verify(key)).toEqual({ ok: false, code: 'key_expired' });
    expect(t.ctx.keys.statusOf(await t.ctx.keys.get(tenant.id, apiKey.id))).toBe('expired');
  });

  it('regenerates: same id, new secret, the old one dead at once', async () => {
    const { key: oldKey, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    const { key: newKey, apiKey: after } = await t.ctx.keys.regenerate(tenant.id, apiKey.id, testActor);
    expect(after.id).toBe(apiKey.id);
    expect(newKey).not.toBe(oldKey);
    expect(await t.ctx.keys.verify(oldKey)).toEqual({ ok: false, code: 'invalid_api_key' });
    expect((await t.ctx.keys.verify(newKey)).ok).toBe(true);
    const [event] = await auditOf(apiKey.id);
    expect(event).toMatchObject({ action: 'key.regenerate', changes: { last4: { before: apiKey.last4, after: after.last4 } } });
    expect(JSON.stringify(event)).not.toContain(newKey.slice(16, 40));
  });

  it('rotates: the old secret works until the grace period ends, then is key_expired', async () => {
    const { key: oldKey, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    const { key: newKey } = await t.ctx.keys.rotate(tenant.id, apiKey.id, { gracePeriodSeconds: 3600 }, testActor);
    expect((await t.ctx.keys.verify(oldKey)).ok).toBe(true);
    expect((await t.ctx.keys.verify(newKey)).ok).toBe(true);
    now = new Date(now.getTime() + 3600_000);
    expect(await t.ctx.keys.verify(oldKey)).toEqual({ ok: false, code: 'key_expired' });
    expect((await t.ctx.keys.verify(newKey)).ok).toBe(true);
    const { key: third } = await t.ctx.keys.rotate(tenant.id, apiKey.id, { gracePeriodSeconds: 0 }, testActor);
    expect(await t.ctx.keys.verify(newKey)).toEqual({ ok: false, code: 'invalid_api_key' });
    expect((await t.ctx.keys.verify(third)).ok).toBe(true);
    await expectAppError(t.ctx.keys.rotate(tenant.id, apiKey.id, { gracePeriodSeconds: 700_000 }, testActor), 400, 'validation_error');
  });

  it('updates partially, keeps other fields, audits the difference only', async () => {
    const { apiKey } = await t.ctx.keys.create(
      tenant.id,
      buildKeyInput({ description: 'd', rateLimits: { perMinute: 5 }, tags: ['a'] }),
      testActor,
    );
    const updated = await t.ctx.keys.update(
      tenant.id,
      apiKey.id,
      { rateLimits: { perHour: 50 }, tags: ['b', 'c'], budget: { limitCents: 500, period: 'monthly' } },
      testActor,
    );
    expect(updated).toMatchObject({
      description: 'd',
      rateLimits: { perMinute: 5, perHour: 50, perDay: null, perMonth: null },
      tags: ['b', 'c'],
      budget: { limitCents: 500, period: 'monthly' },
    });
    const [event] = await auditOf(apiKey.id);
    expect(event.action).toBe('key.update');
    expect(Object.keys(event.changes ?? {}).sort()).toEqual(['budget', 'rateLimits', 'tags']);
    expect(event.changes?.tags).toEqual({ before: ['a'], after: ['b', 'c'] });
    await expectAppError(t.ctx.keys.update(tenant.id, apiKey.id, { tier: 'gold' }, testActor), 400, 'validation_error');
  });

  it('enforces the request quota in verify and clears it with reset usage', async () => {
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput({ usageLimit: 2 }), testActor);
    await t.ctx.database.prisma.apiKey.update({ where: { id: apiKey.id }, data: { requestsOk: 1, requestsFailed: 1, tokens: 9 } });
    expect(await t.ctx.keys.verify(key)).toEqual({ ok: false, code: 'quota_exceeded' });
    const reset = await t.ctx.keys.resetUsage(tenant.id, apiKey.id, testActor);
    expect(reset.usage).toMatchObject({ requestsOk: 0, requestsFailed: 0, tokens: 0 });
    expect((await t.ctx.keys.verify(key)).ok).toBe(true);
    const [event] = await auditOf(apiKey.id);
    expect(event).toMatchObject({ action: 'key.reset_usage', changes: { requestsOk: { before: 1, after: 0 }, tokens: { before: 9, after: 0 } } });
  });

  it('deletes a key; its audit trail stays', async () => {
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput({ tags: ['x'] }), testActor);
    await t.ctx.keys.delete(tenant.id, apiKey.id, testActor);
    await expectAppError(t.ctx.keys.get(tenant.id, apiKey.id), 404, 'not_found');
    expect(await t.ctx.keys.verify(key)).toEqual({ ok: false, code: 'invalid_api_key' });
    expect((await auditOf(apiKey.id)).map((e) => e.action)).toEqual(['key.delete', 'key.create']);
    expect(changes.map((c) => c.kind)).toEqual(['created', 'deleted']);
  });

  it('never lets one tenant read or change another tenant\'s key (404, like a missing one)', async () => {
    const { apiKey } = await t.ctx.keys.create(otherTenant.id, buildKeyInput(), testActor);
    const attempts: Promise<unknown>[] = [
      t.ctx.keys.get(tenant.id, apiKey.id),
      t.ctx.keys.update(tenant.id, apiKey.id, { name: 'mine' }, testActor),
      t.ctx.keys.revoke(tenant.id, apiKey.id, testActor),
      t.ctx.keys.deactivate(tenant.id, apiKey.id, testActor),
      t.ctx.keys.activate(tenant.id, apiKey.id, testActor),
      t.ctx.keys.regenerate(tenant.id, apiKey.id, testActor),
      t.ctx.keys.rotate(tenant.id, apiKey.id, { gracePeriodSeconds: 0 }, testActor),
      t.ctx.keys.resetUsage(tenant.id, apiKey.id, testActor),
      t.ctx.keys.delete(tenant.id, apiKey.id, testActor),
    ];
    for (const attempt of attempts) await expectAppError(attempt, 404, 'not_found');
    const untouched = await t.ctx.keys.get(otherTenant.id, apiKey.id);
    expect(untouched).toMatchObject({ name: apiKey.name, status: 'active', secretHash: apiKey.secretHash });
  });

  describe('list, stats and cleanup', () => {
    let listTenant: Tenant;
    beforeAll(async () => {
      listTenant = await buildTenant(t.ctx);
      const member = await buildUser(t.ctx, listTenant);
      const make = async (input: Record<string, unknown>) => (await t.ctx.keys.create(listTenant.id, input, testActor)).apiKey;
      await make({ name: 'Alpha production', tags: ['prod'], ownerId: member.id });
      const beta = await make({ name: 'Beta', description: 'staging PRODUCT', tags: ['staging'] });
      const gamma = await make({ name: 'Gamma', tags: ['prod'] });
      await make({ name: 'Delta', expiresInDays: 1 });
      await t.ctx.keys.deactivate(listTenant.id, beta.id, testActor);
      await t.ctx.keys.revoke(listTenant.id, gamma.id, testActor);
    });

    it('filters by status, tag, owner and text, newest first, with a total', async () => {
      const names = async (query: Record<string, unknown>) => (await t.ctx.keys.list(listTenant.id, query)).data.map((k) => k.name);
      expect(await names({})).toHaveLength(4);
      expect(await names({ status: 'revoked' })).toEqual(['Gamma']);
      expect(await names({ status: 'inactive' })).toEqual(['Beta']);
      expect(await names({ tag: 'prod' })).toEqual(expect.arrayContaining(['Alpha production', 'Gamma']));
      expect(await names({ search: 'product' })).toEqual(expect.arrayContaining(['Alpha production', 'Beta']));
      expect(await names({ search: 'product' })).toHaveLength(2);
      const page = await t.ctx.keys.list(listTenant.id, { page: 2, size: 3 });
      expect(page).toMatchObject({ total: 4, totalCapped: false, page: 2, size: 3, nextCursor: null });
      expect(page.data).toHaveLength(1);
      now = new Date(now.getTime() + 2 * 86_400_000);
      expect(await names({ status: 'expired' })).toEqual(['Delta']);
      expect(await names({ status: 'active' })).toEqual(['Alpha production']);
    });

    it('follows a cursor: the page after nextCursor holds the next keys in order', async () => {
      for (const sort of [{}, { sort: 'name' }, { sort: 'name', order: 'desc' }]) {
        const all = (await t.ctx.keys.list(listTenant.id, { ...sort, size: 100 })).data.map((k) => k.id);
        expect(all).toHaveLength(4);
        const first = await t.ctx.keys.list(listTenant.id, { ...sort, size: 2, cursor: '' });
        expect(first).toMatchObject({ page: 1, total: 4, nextCursor: expect.any(String) });
        const second = await t.ctx.keys.list(listTenant.id, { ...sort, size: 2, cursor: first.nextCursor });
        expect(second).toMatchObject({ page: null, size: 2, total: 4, nextCursor: null });
        expect([...first.data, ...second.data].map((k) => k.id)).toEqual(all);
        expect(second.data.map((k) => k.id)).toEqual(all.slice(2));
      }
      const first = await t.ctx.keys.list(listTenant.id, { size: 2 });
      await expectAppError(t.ctx.keys.list(listTenant.id, { size: 2, cursor: 'not-a-cursor' }), 400, 'invalid_cursor');
      await expectAppError(t.ctx.keys.list(listTenant.id, { sort: 'name', size: 2, cursor: first.nextCursor }), 400, 'invalid_cursor');
    });

    it('the CLI lists every key of a tenant, past the first page of 100, each once', async () => {
      const many = await buildTenant(t.ctx);
      const created = new Set<string>();
      for (let i = 0; i < 150; i++) created.add((await t.ctx.keys.create(many.id, buildKeyInput({ name: `many ${i}` }), testActor)).apiKey.id);
      const first = await t.ctx.keys.list(many.id, { size: 100 });
      expect(first).toMatchObject({ total: 150, nextCursor: expect.any(String) });
      const output = await COMMANDS['keys list'].run(t.ctx, { tenant: many.slug }, [], testActor);
      const listed = (output.json as { id: string }[]).map((k) => k.id);
      expect(listed).toHaveLength(150);
      expect(new Set(listed)).toEqual(created);
      expect(listed.slice(0, 100)).toEqual(first.data.map((k) => k.id));
      expect(output.text).toHaveLength(150);
    }, 60_000);

    it('counts keys by displayed status', async () => {
      expect(await t.ctx.keys.stats(listTenant.id)).toEqual({ total: 4, active: 2, inactive: 1, revoked: 1, expired: 0 });
      now = new Date(now.getTime() + 2 * 86_400_000);
      expect(await t.ctx.keys.stats(listTenant.id)).toEqual({ total: 4, active: 1, inactive: 1, revoked: 1, expired: 1 });
    });

    it('deletes keys expired longer than the retention period, with an audit event each', async () => {
      now = new Date(now.getTime() + 10 * 86_400_000);
      expect(await t.ctx.keys.cleanupExpired(30, testActor)).toBe(0);
      now = new Date(now.getTime() + 30 * 86_400_000);
      // Other tests' expiring keys (other tenants) may go too; this tenant loses exactly Delta.
      expect(await t.ctx.keys.cleanupExpired(30, testActor)).toBeGreaterThanOrEqual(1);
      expect((await t.ctx.keys.list(listTenant.id, {})).data.map((k) => k.name)).not.toContain('Delta');
      const events = await listAuditEvents(t.ctx.database, { tenantId: listTenant.id, action: 'key.expired_cleanup', page: 1, size: 10 });
      expect(events.total).toBe(1);
    });

    it('cleans up in small batches until every old expired key is gone, each audited', async () => {
      const bulk = await t.ctx.tenants.create({ name: 'Bulk expiry', slug: `bulk-${Date.now()}` }, testActor);
      for (let i = 0; i < 23; i++) await t.ctx.keys.create(bulk.id, buildKeyInput({ name: `old ${i}`, expiresInDays: 1 }), testActor);
      now = new Date(now.getTime() + 40 * 86_400_000);
      const deleted = await t.ctx.keys.cleanupExpired(30, testActor, 5); // five batches of at most five
      expect(deleted).toBeGreaterThanOrEqual(23);
      expect((await t.ctx.keys.list(bulk.id, {})).total).toBe(0);
      const events = await listAuditEvents(t.ctx.database, { tenantId: bulk.id, action: 'key.expired_cleanup', page: 1, size: 50 });
      expect(events.total).toBe(23);
    });
  });
});
