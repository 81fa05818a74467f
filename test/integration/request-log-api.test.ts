/**
 * The request-visibility routes of the management API: GET /keys/:id/requests, /keys/:id/ips,
 * /usage and the CSV exports (audit events included): validation naming each bad field, the
 * keys:read scope, tenant isolation, responses matching the OpenAPI document, spreadsheet-safe
 * CSV; and unknown-key attempts counted per client address through the real guard.
 */
import request from 'supertest';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { unknownKeyAttempts } from '../../src/usage/request-activity';
import { REQUEST_OUTCOMES } from '../../packages/guard/src/usage/usage-types';
import { chatBody, createTestApp, type TestApp } from '../helpers/app';
import { buildKeyInput, buildTenant, testActor } from '../helpers/context';
import { SpecValidator } from '../helpers/openapi';

let t: TestApp;
let spec: SpecValidator;
let admin: string;
let keyId: string;

beforeAll(async () => {
  t = await createTestApp('sqlite', {
    config: {
      trustProxy: ['loopback'],
      api: { usageFlushIntervalMs: 1000, keyCacheTtlMs: 30_000, invalidKeys: { attempts: 2, windowSeconds: 60, blockSeconds: 300 } },
    },
  });
  spec = new SpecValidator((await request(t.app).get('/api/openapi.json')).body);
  admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
  const issued = await t.issue({ tier: 'pro' });
  keyId = issued.apiKey.id;
  for (let i = 0; i < 3; i++) {
    await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${issued.key}`).set('X-Forwarded-For', '203.0.113.5').send(chatBody());
  }
  await t.ctx.usage.flush();
});
afterAll(async () => t.close());

const get = (path: string, key = admin) => request(t.app).get(path).set('Authorization', `Bearer ${key}`);
const fields = (res: request.Response) => (res.body.error.details as { field: string }[]).map((d) => d.field).sort();

describe('GET /keys/:id/requests, /keys/:id/ips, /usage', () => {
  it('refuse bad parameters with 400 validation_error naming each field', async () => {
    const bad = await get(`/api/v1/keys/${keyId}/requests?limit=0&cursor=nope&outcome=fine&ip=1.2.3&from=yesterday&format=xml`);
    expect(bad.status).toBe(400);
    spec.check(bad, 'get', '/api/v1/keys/{id}/requests');
    expect(bad.body.error.code).toBe('validation_error');
    expect(fields(bad)).toEqual(['cursor', 'format', 'from', 'ip', 'limit', 'outcome']);
    expect((await get(`/api/v1/keys/${keyId}/requests?limit=101`)).body.error.details).toEqual([{ field: 'limit', message: 'must be at most 100' }]);
    expect(fields(await get(`/api/v1/keys/${keyId}/requests?from=2026-11-22&to=2026-11-21T00:00:00Z`))).toEqual(['to']);
    expect((await get(`/api/v1/keys/${keyId}/requests?limit=5000&format=csv`)).status).toBe(200);

    const usage = await get('/api/v1/usage?groupBy=hour&from=2026-02-30&to=22-11-2026');
    spec.check(usage, 'get', '/api/v1/usage');
    expect(fields(usage)).toEqual(['from', 'groupBy', 'to']);
    expect(fields(await get('/api/v1/usage?from=2026-11-22&to=2026-11-21'))).toEqual(['to']);
    const long = await get('/api/v1/usage?from=2025-01-01&to=2026-01-02');
    expect(long.body.error.details).toEqual([{ field: 'from', message: 'must be at most 366 days before to (both included)' }]);
    expect((await get('/api/v1/usage?from=2025-01-02&to=2026-01-02')).status).toBe(200);
  });

  it('need keys:read, and answer 404 for another tenant\'s key exactly like a missing one', async () => {
    const plain = (await t.issue({ scopes: ['api'] })).key;
    for (const path of [`/api/v1/keys/${keyId}/requests`, `/api/v1/keys/${keyId}/ips`, '/api/v1/usage']) {
      const res = await get(path, plain);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('insufficient_scope');
    }
    const otherTenant = await buildTenant(t.ctx);
    const foreign = (await t.ctx.keys.create(otherTenant.id, buildKeyInput(), testActor)).apiKey.id;
    for (const path of [`/api/v1/keys/${foreign}/requests`, `/api/v1/keys/${foreign}/requests?format=csv`, `/api/v1/keys/${foreign}/ips`, '/api/v1/keys/nope/ips']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    spec.check(await get(`/api/v1/keys/${foreign}/ips`), 'get', '/api/v1/keys/{id}/ips');
    // Another tenant's reader sees none of this tenant's usage.
    const reader = (await t.ctx.keys.create(otherTenant.id, buildKeyInput({ scopes: ['keys:read'] }), testActor)).key;
    const theirs = await get('/api/v1/usage?groupBy=key', reader);
    expect(theirs.body.data).toEqual([]);
  });

  it('GET /keys/:id/ips lists the addresses a key was used from; GET /usage answers rows by day, key and model', async () => {
    const ips = await get(`/api/v1/keys/${keyId}/ips`);
    spec.check(ips, 'get', '/api/v1/keys/{id}/ips');
    expect(ips.body).toEqual({ data: [{ ip: '203.0.113.5', firstSeenAt: expect.any(String), lastSeenAt: expect.any(String), requests: 3 }] });

    const today = new Date().toISOString().slice(0, 10);
    const byDay = await get('/api/v1/usage');
    spec.check(byDay, 'get', '/api/v1/usage');
    expect(byDay.body).toMatchObject({ to: today, groupBy: 'day' });
    expect(byDay.body.data).toHaveLength(30);
    expect(byDay.body.data[29]).toMatchObject({ date: today, requests: 3, outcomes: { ok: 3 } });
    for (const groupBy of ['key', 'model']) spec.check(await get(`/api/v1/usage?groupBy=${groupBy}`), 'get', '/api/v1/usage');
    const byModel = await get(`/api/v1/usage?groupBy=model&from=${today}&to=${today}`);
    expect(byModel.body.data).toEqual([expect.objectContaining({ model: 'local-small', requests: 3, costCents: expect.any(Number) })]);
    expect(byModel.body.data[0].costCents).not.toBe(Math.round(byModel.body.data[0].costCents));
  });
});

describe('CSV exports', () => {
  it('GET /usage?format=csv: a header row with one column per outcome, costs in cents with decimals, formulas kept as text', async () => {
    const formula = await t.issue({ name: '=HYPERLINK("http://evil.test","click"), @me' });
    await request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${formula.key}`);
    await t.ctx.usage.flush();
    const res = await get('/api/v1/usage?groupBy=key&format=csv');
    expect(res.text).toContain(`${formula.apiKey.id},"'=HYPERLINK(""http://evil.test"",""click""), @me",1,1,`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="keyward-usage-key-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv"$/);
    const [header, ...rows] = res.text.trimEnd().split('\r\n').map((line) => line.split(','));
    expect(header).toEqual(['keyId', 'keyName', 'requests', ...REQUEST_OUTCOMES, 'tokens', 'costCents']);
    const row = rows.find((r) => r[0] === keyId) as string[];
    expect(row[2]).toBe('3');
    expect(row[header.indexOf('ok')]).toBe('3');
    expect(row[header.length - 1]).toMatch(/^0\.\d+$/);
  });

  it('GET /audit-events?format=csv exports events spreadsheet-safe: a formula in a key name stays text', async () => {
    const created = await request(t.app)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${admin}`)
      .send({ name: '=HYPERLINK("http://evil.test","click"), @me', description: 'two\nlines' });
    expect(created.status).toBe(201);
    const res = await get(`/api/v1/audit-events?format=csv&keyId=${created.body.apiKey.id}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="keyward-audit-events.csv"');
    expect(res.headers['cache-control']).toBe('no-store');
    const [header] = res.text.split('\r\n');
    expect(header.split(',').slice(0, 6)).toEqual(['id', 'action', 'actorType', 'actorId', 'actorLabel', 'targetType']);
    expect(res.text).toContain('key.create');
    // The name appears only inside quoted JSON text or as a quoted, quote-prefixed cell: never a bare formula.
    expect(res.text).not.toMatch(/(^|,)=HYPERLINK/m);
    expect(res.text).not.toMatch(/(^|,)"=/m);
    const json = await get(`/api/v1/audit-events?keyId=${created.body.apiKey.id}&size=101`);
    expect(json.status).toBe(400);
    expect((await get('/api/v1/audit-events?format=csv&size=10001')).status).toBe(400);
  });
});

describe('unknown-key attempts', () => {
  it('are counted per client address, requests refused as a blocked guesser apart', async () => {
    const from = (ip: string, key: string) => request(t.app).get('/api/v1/models').set('Authorization', `Bearer ${key}`).set('X-Forwarded-For', ip);
    // INVALID_KEY_ATTEMPTS=2 here: the third attempt from 192.0.2.1 blocks it, the fourth is
    // refused as a blocked guesser.
    const statuses = [];
    for (const key of ['kw_garbage', generateKey('kw').key, generateKey('kw').key, generateKey('kw').key]) statuses.push((await from('192.0.2.1', key)).status);
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect((await from('192.0.2.2', generateKey('kw').key)).status).toBe(401);
    await t.ctx.usage.flush();
    const attempts = await unknownKeyAttempts(t.ctx.database.prisma);
    expect(attempts.map((a) => [a.ip, a.attempts, a.blockedAttempts])).toEqual([
      ['192.0.2.1', 3, 1],
      ['192.0.2.2', 1, 0],
    ]);
  });
});
