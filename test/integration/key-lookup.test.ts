/**
 * The guard's raw-driver key lookup (src/data/repositories/key-lookup.ts) returns exactly the
 * record the data layer's Prisma findKey() returns, for keys with every kind of field set, on
 * SQLite and PostgreSQL (with TEST_DATABASE_URL).
 */
import { createKeyLookup } from '../../src/data/repositories/key-lookup';
import { findKey } from '../../src/data/repositories/api-keys';
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
});
