/**
 * Usage the database refuses for what it holds must not stop every other key's usage from being
 * written. On PostgreSQL a key whose stored token total is near bigint's end makes the next
 * increment overflow (22003); on SQLite, whose integers turn into reals instead, a trigger refusing
 * one key's update stands in for any constraint the data breaks (SQLITE_CONSTRAINT_TRIGGER). The
 * refused key's part is found, sent again at the next writes, then logged and set aside; every
 * other key is written at once, and so is the refused key's usage once the database takes it again.
 */
import express from 'express';
import request from 'supertest';
import { apiKeyAuth } from '../../src';
import { createLogger } from '../../src/logger';
import { availableProviders } from '../helpers/databases';
import { buildKeyInput, buildTenant, createTestContext, TEST_API_CONFIG, type TestContext, testActor } from '../helpers/context';

const NEAR_BIGINT_END = '9223372036854775000';

describe.each(availableProviders)('usage the database refuses, on %s', (provider) => {
  let t: TestContext;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    const logger = createLogger('warn', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    // Writes happen only when the test flushes: a timer's flush in between would count as one more
    // refusal (on a slow machine it set the part aside before the test looked).
    t = await createTestContext(provider, { logger, config: { api: { ...TEST_API_CONFIG, usageFlushIntervalMs: 3_600_000 } } });
  });
  afterAll(async () => t.close());

  /** Makes the database refuse every usage write touching the key's row, as it would for its data. */
  async function refuseWritesOf(keyId: string): Promise<void> {
    const db = t.ctx.database.prisma;
    if (provider === 'postgresql') {
      await db.$executeRawUnsafe(`UPDATE "api_keys" SET "tokens" = ${NEAR_BIGINT_END} WHERE "id" = '${keyId}'`);
      return;
    }
    await db.$executeRawUnsafe(
      `CREATE TRIGGER "refuse_${keyId}" BEFORE UPDATE ON "api_keys" WHEN OLD."id" = '${keyId}' BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END`,
    );
  }

  async function acceptWritesOf(keyId: string): Promise<void> {
    const db = t.ctx.database.prisma;
    if (provider === 'postgresql') await db.$executeRawUnsafe(`UPDATE "api_keys" SET "tokens" = 0 WHERE "id" = '${keyId}'`);
    else await db.$executeRawUnsafe(`DROP TRIGGER "refuse_${keyId}"`);
  }

  it('writes every other key at once, sets the refused key\'s part aside after three writes (logged with its counts), and keeps writing', async () => {
    const tenant = await buildTenant(t.ctx);
    const created = await Promise.all([1, 2, 3].map(() => t.ctx.keys.create(tenant.id, buildKeyInput(), testActor)));
    const [good, refused, other] = created.map((c) => ({ id: c.apiKey.id, secret: c.key }));
    await refuseWritesOf(refused.id);
    const app = express();
    app.use(apiKeyAuth({ keys: t.ctx.keyStore, hasher: t.ctx.hasher, limits: t.ctx.limits, usage: t.ctx.usage, clientIp: () => '127.0.0.1' }));
    app.get('/', (req, res) => {
      req.apiKey?.reportUsage({ tokens: 1000 });
      res.json({ ok: true });
    });
    const call = async (key: { secret: string }) => expect((await request(app).get('/').set('authorization', `Bearer ${key.secret}`)).status).toBe(200);
    const usageOf = async (key: { id: string }) => (await t.ctx.keys.findById(key.id))?.usage;

    await t.ctx.usage.flush();
    for (const key of [good, refused, refused, other]) await call(key);
    await t.ctx.usage.flush();
    expect(await usageOf(good)).toMatchObject({ requestsOk: 1, tokens: 1000 });
    expect(await usageOf(other)).toMatchObject({ requestsOk: 1, tokens: 1000 });
    expect(t.ctx.usage.pendingRequests()).toBe(2);

    // The refused part does not hold back what comes after it.
    await call(good);
    await t.ctx.usage.flush();
    expect(await usageOf(good)).toMatchObject({ requestsOk: 2, tokens: 2000 });
    const reason = provider === 'postgresql' ? '22003' : 'SQLITE_CONSTRAINT_TRIGGER';
    // Each refusal is logged by its code alone (at most once in ten seconds), never the driver's message.
    expect(lines).toEqual([expect.objectContaining({ level: 40, reason, msg: 'the database refused a usage write for what it holds; writing the rest apart' })]);
    expect(JSON.stringify(lines)).not.toMatch(/stack|constraint|range/);
    lines.length = 0;
    await t.ctx.usage.flush();
    expect(t.ctx.usage.isEmpty()).toBe(true);
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'usage the database refuses every time was set aside, not written',
        level: 50,
        reason,
        owners: [refused.id],
        requests: 2,
        tokens: 2000,
        requestLogRows: 2,
      }),
    ]);

    // Once the database takes the key's writes again, its new usage is written.
    await acceptWritesOf(refused.id);
    await call(refused);
    await t.ctx.usage.flush();
    expect(await usageOf(refused)).toMatchObject({ requestsOk: 1, tokens: 1000 });
    expect(t.ctx.usage.isEmpty()).toBe(true);
  });
});
