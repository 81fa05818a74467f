/**
 * Management traffic has its own per-key limit (MANAGEMENT_RATE_LIMIT_PER_MINUTE) and never spends
 * the calling key's /api windows, quota or budget: a free-tier admin key made by the README's CLI
 * line can script the management API (the free tier allows only 10 /api requests a minute).
 */
import request from 'supertest';
import { limitStatus } from '../../packages/guard/src/limits/limit-status';
import { createTestApp, type TestApp } from '../helpers/app';
import { tempDir } from '../helpers/databases';
import { freePort, runCli, startServer } from '../helpers/processes';

describe('in-process', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite', { config: { management: { ratePerMinute: 25 } } });
  });
  afterAll(async () => t.close());

  it('management calls do not touch the key\'s /api windows, quota or budget; past its own limit they get 429 with headers', async () => {
    const { key, apiKey } = await t.issue({ scopes: ['admin'], usageLimit: 3, budget: { limitCents: 1, period: 'total' } });
    for (let i = 0; i < 25; i++) {
      const res = await request(t.app).get('/api/v1/keys').set('Authorization', `Bearer ${key}`);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toBe('"management";q=25;w=60');
      expect(res.headers.ratelimit).toMatch(new RegExp(`^"management";r=${24 - i};t=\\d+$`));
    }
    const refused = await request(t.app).get('/api/v1/stats').set('Authorization', `Bearer ${key}`);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    expect(refused.body.error.message).toContain('management');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers.ratelimit).toMatch(/^"management";r=0;t=\d+$/);

    const status = await limitStatus(t.ctx.limits, apiKey);
    expect(status.quota).toEqual({ used: 0, limit: 3, remaining: 3, period: 'total', resetsAt: null });
    expect(status.rateLimits.every((w) => w.remaining === w.limit)).toBe(true);
    await t.ctx.usage.flush();
    const row = await t.ctx.database.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
    expect(Number(row.requestsOk) + Number(row.requestsFailed)).toBe(0);
    // The key's /api allowance is whole.
    for (let i = 0; i < 3; i++) expect((await request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${key}`)).status).toBe(200);
  });

  it('refusals before counting carry the management headers, not the /api windows', async () => {
    const { key } = await t.issue({ scopes: ['keys:read'] });
    const res = await request(t.app).post('/api/v1/keys').set('Authorization', `Bearer ${key}`).send({ name: 'x' });
    expect(res.status).toBe(403);
    expect(res.headers['ratelimit-policy']).toBe('"management";q=25;w=60');
  });
});

describe('the README\'s CLI-made management key, against `npm start`', () => {
  it('makes 40 management calls in a row, all 200', async () => {
    const cwd = tempDir();
    const env = { KEY_HASH_SECRET: 'k'.repeat(40), SESSION_SECRET: 's'.repeat(40), ADMIN_PASSWORD: 'a very long password' };
    const made = await runCli(['keys', 'create', '--tenant', 'default', '--name', 'ci', '--scopes', 'admin', '--json'], { cwd, env });
    expect(made.code).toBe(0);
    const { key } = JSON.parse(made.stdout) as { key: string };
    const server = await startServer({ cwd, env, port: await freePort() });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const path = ['/api/v1/keys', '/api/v1/stats', '/api/v1/audit-events'][i % 3];
        statuses.push((await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } })).status);
      }
      expect(statuses).toEqual(Array(40).fill(200));
    } finally {
      await server.stop();
    }
  });
});
