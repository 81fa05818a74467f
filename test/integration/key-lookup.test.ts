/**
 * The guard's raw-driver key lookup (src/data/repositories/key-lookup.ts) returns exactly the
 * record the data layer's Prisma findKey() returns, for keys with every kind of field set, on
 * SQLite and PostgreSQL (with TEST_DATABASE_URL).
 */
import { createKeyLookup } from '../../src/data/repositories/key-lookup';
import { findKey } from '../../src/data/repositories/api-keys';
import { prepare } from '../../packages/guard/src/middleware/prepared-key';
import { buildKeyInput, buildTenant, buildUser, createTestContext, type TestContext, testActor } from '../helpers/context';
import { availableProviders } from '../helpers/databases';

describe.each(availableProviders)('raw key lookup on %s', (provider) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(provider);
  });
  afterAll(() => t.close());

  it('reads the same records as the ORM, several ids per read', async () => {
    const tenant = await buildTenant(t.ctx);
    const owner = await buildUser(t.ctx, tenant);
    const plain = await t.ctx.keys.create(tenant.id, buildKeyInput(), testActor);
    const full = await t.ctx.keys.create(
      tenant.id,
      buildKeyInput({
        description: 'every field — ünïcode ✓',
        scopes: ['api', 'keys:read'],
        tags: ['zeta', 'Alpha', 'beta', 'prod'],
        metadata: { costCenter: 'cc-7', nested: { list: [1, 'two', null] } },
        tier: 'pro',
        rateLimits: { perMinute: 17, perHour: null, perDay: 1000, perMonth: null },
        allowedIps: ['10.0.0.0/8', '::1'],
        allowedModels: ['gpt-4o-mini'],
        allowedChatbots: ['support-bot'],
        usageLimit: 5000,
        usageLimitPeriod: 'daily',
        tokenLimits: { perMinute: 123_456, perDay: 9_000_000_000 },
        maxConcurrentRequests: 3,
        notifyOnNewIp: true,
        budget: { limitCents: 2500, period: 'monthly' },
        expiresAt: new Date(Date.now() + 86_400_000 * 30).toISOString(),
        ownerId: owner.id,
      }),
      testActor,
    );
    const revoked = await t.ctx.keys.create(tenant.id, buildKeyInput({ tags: ['old'] }), testActor);
    await t.ctx.keys.revoke(tenant.id, revoked.apiKey.id, testActor);
    // A rotation leaves the previous secret working for a while: those columns set too.
    await t.ctx.keys.rotate(tenant.id, full.apiKey.id, { gracePeriodSeconds: 3600 }, testActor);
    const ids = [plain.apiKey.id, full.apiKey.id, revoked.apiKey.id];

    const lookup = createKeyLookup(t.db.config, { connectMs: 3000, queryMs: 10_000 });
    try {
      const raw = await lookup.findKeys([...ids, 'NoSuchKeyId0', full.apiKey.id]);
      expect(raw).toHaveLength(3);
      for (const id of ids) {
        const viaOrm = await findKey(t.ctx.database.prisma, id);
        expect(viaOrm).not.toBeNull();
        expect(raw.find((r) => r.id === id)).toEqual(viaOrm);
      }
      expect(raw.find((r) => r.id === full.apiKey.id)?.tags).toEqual((await findKey(t.ctx.database.prisma, full.apiKey.id))?.tags);
      expect(await lookup.findKeys([])).toEqual([]);
    } finally {
      await lookup.close();
    }
  });

  it('shares what keys hold alike: one frozen copy of each list and limit, one compiled allowlist', async () => {
    const tenant = await buildTenant(t.ctx);
    const alike = {
      scopes: ['api'],
      tags: ['prod', 'eu'],
      allowedIps: ['10.0.0.0/8', '2001:db8::/32'],
      allowedModels: ['gpt-4o-mini'],
      rateLimits: { perMinute: 60, perHour: null, perDay: null, perMonth: null },
      budget: { limitCents: 500, period: 'monthly' },
    };
    const a = await t.ctx.keys.create(tenant.id, buildKeyInput(alike), testActor);
    const b = await t.ctx.keys.create(tenant.id, buildKeyInput(alike), testActor);
    const other = await t.ctx.keys.create(tenant.id, buildKeyInput({ ...alike, allowedIps: ['192.0.2.0/24'] }), testActor);
    const lookup = createKeyLookup(t.db.config, { connectMs: 3000, queryMs: 10_000 });
    try {
      const [first] = await lookup.findKeys([a.apiKey.id]);
      const [second] = await lookup.findKeys([b.apiKey.id]);
      const [third] = await lookup.findKeys([other.apiKey.id]);
      for (const field of ['scopes', 'tags', 'allowedIps', 'allowedModels', 'rateLimits', 'budget', 'tenantId'] as const) {
        expect(second[field]).toBe(first[field]);
      }
      expect(third.allowedIps).not.toBe(first.allowedIps);
      // Shared values cannot be changed through one key.
      expect(Object.isFrozen(first.allowedIps)).toBe(true);
      expect(() => (first.scopes as string[]).push('admin')).toThrow(TypeError);
      expect(second.scopes).toEqual(['api']);
      // The guard's derivations are shared the same way (and still answer per key's own list).
      const [p1, p2, p3] = [first, second, third].map((record) => prepare(record));
      expect(p2.ipAllowed).toBe(p1.ipAllowed);
      expect(p2.models).toBe(p1.models);
      expect(p2.rateLimits).toBe(p1.rateLimits);
      expect(p1.ipAllowed('10.1.2.3')).toBe(true);
      expect(p3.ipAllowed('10.1.2.3')).toBe(false);
      expect(p3.ipAllowed('192.0.2.9')).toBe(true);
      // Each record keeps its own verification memo.
      expect(p2.verified).not.toBe(p1.verified);
    } finally {
      await lookup.close();
    }
  });
});
