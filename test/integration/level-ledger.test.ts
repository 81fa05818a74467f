/**
 * Owner and tenant budgets survive a restart like a key's: a clean stop lowers the durable ceiling
 * to what was spent and a new process counts from it (a crash would count from the higher
 * ceiling, never from less than was spent).
 */
import request from 'supertest';
import { createApp } from '../../src/app';
import { tenantSubject } from '../../src/data/repositories/level-limits';
import { chatBody } from '../helpers/app';
import { testActor } from '../helpers/context';
import { createSqliteDatabase } from '../helpers/databases';
import { openContext } from '../helpers/webhook-context';

it('a tenant budget keeps its spend across a clean restart, and its ceiling never below it', async () => {
  const db = await createSqliteDatabase();
  try {
    const first = await openContext(db);
    const tenant = await first.tenants.create({ name: 'Durable', slug: 'durable' }, testActor);
    await first.levels.updateTenant(tenant.id, { budget: { limitCents: 100, period: 'total' } }, testActor);
    const { key } = await first.keys.create(tenant.id, { name: 'k', tier: 'enterprise' }, testActor);
    const app = createApp(first);
    for (let i = 0; i < 5; i += 1) {
      expect((await request(app).post('/api/v1/chat/completions').set('authorization', `Bearer ${key}`).send(chatBody({ model: 'local-large' }))).status).toBe(200);
    }
    const spent = (await first.levels.getTenant(tenant.id)).budget?.spentCents ?? 0;
    expect(spent).toBeGreaterThan(0);
    const raised = await first.database.prisma.levelLimit.findUnique({ where: { subject: tenantSubject(tenant.id) } });
    expect(Number(raised?.budgetCeilingMicroCents)).toBeGreaterThanOrEqual(spent * 1_000_000);
    await first.close();

    const second = await openContext(db);
    try {
      const lowered = await second.database.prisma.levelLimit.findUnique({ where: { subject: tenantSubject(tenant.id) } });
      expect(Number(lowered?.budgetCeilingMicroCents)).toBe(Math.round(spent * 1_000_000));
      expect((await second.levels.getTenant(tenant.id)).budget?.spentCents).toBe(spent);
    } finally {
      await second.close();
    }
  } finally {
    await db.drop();
  }
});
