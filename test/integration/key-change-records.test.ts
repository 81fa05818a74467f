/**
 * Every key change writes one key_changes row in its own transaction (what other processes poll),
 * and the change announced on this process's bus carries that row's id. A refused change writes
 * none.
 */
import type { KeyChange } from '../../packages/guard/src/keys/key-events';
import type { Tenant } from '../../src/tenants/tenant-types';
import { availableProviders } from '../helpers/databases';
import { buildKeyInput, buildTenant, createTestContext, type TestContext, testActor } from '../helpers/context';

describe.each(availableProviders)('key change records on %s', (provider) => {
  let t: TestContext;
  let tenant: Tenant;
  let now: Date;
  const announced: KeyChange[] = [];

  beforeAll(async () => {
    now = new Date('2026-11-22T12:00:00Z');
    t = await createTestContext(provider, { clock: () => now });
    tenant = await buildTenant(t.ctx);
    t.ctx.keyEvents.subscribe((change) => announced.push(change));
  });
  afterAll(async () => t.close());

  const rowsOf = async (keyId: string) =>
    (await t.ctx.database.prisma.keyChange.findMany({ where: { keyId }, orderBy: { id: 'asc' } })).map((row) => ({
      id: Number(row.id),
      kind: row.kind,
      tenantId: row.tenantId,
    }));

  it('writes one row per change, with the kind, in increasing id order, matching what the bus announced', async () => {
    const { apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    const id = apiKey.id;
    await t.ctx.keys.update(tenant.id, id, { name: 'renamed' }, testActor);
    await t.ctx.keys.deactivate(tenant.id, id, testActor);
    await t.ctx.keys.activate(tenant.id, id, testActor);
    await t.ctx.keys.regenerate(tenant.id, id, testActor);
    await t.ctx.keys.rotate(tenant.id, id, { gracePeriodSeconds: 60 }, testActor);
    await t.ctx.keys.resetUsage(tenant.id, id, testActor);
    await t.ctx.keys.revoke(tenant.id, id, testActor);
    await t.ctx.keys.delete(tenant.id, id, testActor);

    const rows = await rowsOf(id);
    const kinds = ['created', 'updated', 'deactivated', 'activated', 'regenerated', 'rotated', 'usage_reset', 'revoked', 'deleted'];
    expect(rows.map((r) => r.kind)).toEqual(kinds);
    expect(rows.every((r) => r.tenantId === tenant.id)).toBe(true);
    expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort((a, b) => a - b));
    const mine = announced.filter((c) => c.keyId === id);
    expect(mine.map((c) => [c.kind, c.changeId])).toEqual(rows.map((r) => [r.kind, r.id]));
  });

  it('the expired-key cleanup writes a "deleted" row per key it deletes', async () => {
    const { apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput({ expiresInDays: 1 }), testActor);
    now = new Date(now.getTime() + 40 * 86_400_000);
    expect(await t.ctx.keys.cleanupExpired(30, testActor)).toBeGreaterThanOrEqual(1);
    expect((await rowsOf(apiKey.id)).map((r) => r.kind)).toEqual(['created', 'deleted']);
  });

  it('a refused change writes no row (same transaction)', async () => {
    const { apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    await t.ctx.keys.revoke(tenant.id, apiKey.id, testActor);
    await expect(t.ctx.keys.activate(tenant.id, apiKey.id, testActor)).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(t.ctx.keys.update(tenant.id, apiKey.id, { ownerId: 'no-such-user' }, testActor)).rejects.toMatchObject({
      code: 'validation_error',
    });
    expect((await rowsOf(apiKey.id)).map((r) => r.kind)).toEqual(['created', 'revoked']);
  });
});
