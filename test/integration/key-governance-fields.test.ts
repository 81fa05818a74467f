/**
 * The per-key governance fields (tokenLimits, maxConcurrentRequests, usageLimitPeriod,
 * notifyOnNewIp) through the management API: defaults, round trips, PATCH semantics, a 400 naming
 * the field for every bad value with nothing written, the audit trail, and every response checked
 * against the served OpenAPI document. On SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.
 */
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/app';
import { availableProviders } from '../helpers/databases';
import { SpecValidator } from '../helpers/openapi';

type Method = 'get' | 'post' | 'patch';

const NO_GOVERNANCE = {
  tokenLimits: { perMinute: null, perDay: null },
  maxConcurrentRequests: null,
  usageLimitPeriod: 'total',
  notifyOnNewIp: false,
};

const EVERY_FIELD = {
  tokenLimits: { perMinute: 2000, perDay: 1_000_000_000_000 },
  maxConcurrentRequests: 100_000,
  usageLimit: 500,
  usageLimitPeriod: 'daily',
  notifyOnNewIp: true,
};

/** Bad values and the detail each must produce: [body, field, message]. */
const BAD_VALUES: [Record<string, unknown>, string, string][] = [
  [{ tokenLimits: { perMinute: -5 } }, 'tokenLimits.perMinute', 'must be at least 1'],
  [{ tokenLimits: { perMinute: 0 } }, 'tokenLimits.perMinute', 'must be at least 1'],
  [{ tokenLimits: { perDay: 2.5 } }, 'tokenLimits.perDay', 'must be a whole number'],
  [{ tokenLimits: { perDay: 1_000_000_000_001 } }, 'tokenLimits.perDay', 'must be at most 1,000,000,000,000'],
  [{ tokenLimits: { perMinute: '2000' } }, 'tokenLimits.perMinute', 'must be a number'],
  [{ tokenLimits: { perHour: 10 } }, 'tokenLimits.perHour', 'is not a known field'],
  [{ tokenLimits: 2000 }, 'tokenLimits', 'must be null or an object like {"perMinute": 2000, "perDay": 100000}'],
  [{ maxConcurrentRequests: -1 }, 'maxConcurrentRequests', 'must be at least 1'],
  [{ maxConcurrentRequests: 0 }, 'maxConcurrentRequests', 'must be at least 1'],
  [{ maxConcurrentRequests: 1.5 }, 'maxConcurrentRequests', 'must be a whole number'],
  [{ maxConcurrentRequests: 100_001 }, 'maxConcurrentRequests', 'must be at most 100,000'],
  [{ maxConcurrentRequests: '5' }, 'maxConcurrentRequests', 'must be a number'],
  [{ usageLimitPeriod: 'weekly' }, 'usageLimitPeriod', 'must be one of total, daily, monthly'],
  [{ usageLimitPeriod: null }, 'usageLimitPeriod', 'must be one of total, daily, monthly'],
  [{ usageLimitPeriod: 1 }, 'usageLimitPeriod', 'must be one of total, daily, monthly'],
  [{ notifyOnNewIp: 'yes' }, 'notifyOnNewIp', 'must be true or false'],
  [{ notifyOnNewIp: null }, 'notifyOnNewIp', 'must be true or false'],
  [{ notifyOnNewIp: 1 }, 'notifyOnNewIp', 'must be true or false'],
];

describe.each(availableProviders)('key governance fields on %s', (provider) => {
  let t: TestApp;
  let spec: SpecValidator;
  let admin: string;

  beforeAll(async () => {
    t = await createTestApp(provider);
    spec = new SpecValidator((await request(t.app).get('/api/openapi.json')).body);
    admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
  });
  afterAll(async () => t.close());

  /** Calls a management route with the admin key and checks the answer against the document. */
  async function call(method: Method, path: string, template: string, body?: unknown) {
    let req = request(t.app)[method](path).set('Authorization', `Bearer ${admin}`);
    if (body !== undefined) req = req.send(body as object);
    const res = await req;
    spec.check(res, method, template);
    return res;
  }

  const create = (body: Record<string, unknown>) => call('post', '/api/v1/keys', '/api/v1/keys', { name: 'governed', ...body });
  const update = (id: string, body: Record<string, unknown>) => call('patch', `/api/v1/keys/${id}`, '/api/v1/keys/{id}', body);
  const read = (id: string) => call('get', `/api/v1/keys/${id}`, '/api/v1/keys/{id}');

  it('gives a key created without them no token or concurrency limit, a total quota and no alert', async () => {
    const res = await create({ usageLimit: 100 });
    expect(res.status).toBe(201);
    expect(res.body.apiKey).toMatchObject({ ...NO_GOVERNANCE, usageLimit: 100 });
    const stored = await t.ctx.keys.get(t.tenant.id, res.body.apiKey.id);
    expect(stored.ledger.quotaPeriodStart).toBeNull();
  });

  it('stores every field as given and shows it on create, get and list (token limits beyond 32 bits too)', async () => {
    const res = await create({ ...EVERY_FIELD, tags: ['governed-list'] });
    expect(res.status).toBe(201);
    expect(res.body.apiKey).toMatchObject(EVERY_FIELD);
    const id = res.body.apiKey.id as string;
    expect((await read(id)).body).toMatchObject(EVERY_FIELD);
    const listed = await call('get', '/api/v1/keys?tag=governed-list', '/api/v1/keys');
    expect(listed.body.data).toEqual([expect.objectContaining({ id, ...EVERY_FIELD })]);
    const stored = await t.ctx.keys.get(t.tenant.id, id);
    expect(stored).toMatchObject(EVERY_FIELD);
  });

  it('PATCH changes only what is present: a window at a time, null clears, absent stays', async () => {
    const { id } = (await create(EVERY_FIELD)).body.apiKey as { id: string };

    const oneWindow = await update(id, { tokenLimits: { perDay: null } });
    expect(oneWindow.status).toBe(200);
    expect(oneWindow.body).toMatchObject({ ...EVERY_FIELD, tokenLimits: { perMinute: 2000, perDay: null } });

    const other = await update(id, { description: 'unrelated change' });
    expect(other.body).toMatchObject({ ...EVERY_FIELD, tokenLimits: { perMinute: 2000, perDay: null } });

    const cleared = await update(id, { tokenLimits: null, maxConcurrentRequests: null, usageLimitPeriod: 'monthly', notifyOnNewIp: false });
    expect(cleared.body).toMatchObject({
      tokenLimits: { perMinute: null, perDay: null },
      maxConcurrentRequests: null,
      usageLimit: 500,
      usageLimitPeriod: 'monthly',
      notifyOnNewIp: false,
    });

    const set = await update(id, { tokenLimits: { perMinute: 1, perDay: 5 }, maxConcurrentRequests: 1, usageLimitPeriod: 'total' });
    expect(set.body).toMatchObject({ tokenLimits: { perMinute: 1, perDay: 5 }, maxConcurrentRequests: 1, usageLimitPeriod: 'total' });
    expect((await read(id)).body).toMatchObject({ tokenLimits: { perMinute: 1, perDay: 5 }, maxConcurrentRequests: 1, usageLimitPeriod: 'total' });
  });

  it.each(BAD_VALUES)('refuses %j on create and update with 400 naming the field, writing nothing', async (body, field, message) => {
    const before = await t.ctx.database.prisma.apiKey.count();
    const created = await create(body);
    expect(created.status).toBe(400);
    expect(created.body.error.code).toBe('validation_error');
    expect(created.body.error.details).toEqual([{ field, message }]);
    expect(await t.ctx.database.prisma.apiKey.count()).toBe(before);

    const { id } = (await t.issue(EVERY_FIELD)).apiKey;
    const stored = await t.ctx.keys.get(t.tenant.id, id);
    const updated = await update(id, body);
    expect(updated.status).toBe(400);
    expect(updated.body.error.details).toEqual([{ field, message }]);
    expect(await t.ctx.keys.get(t.tenant.id, id)).toEqual(stored);
  });

  it('writes the fields into the audit events of create and update, before and after', async () => {
    const { id } = (await create(EVERY_FIELD)).body.apiKey as { id: string };
    await update(id, { tokenLimits: { perMinute: 3000 }, maxConcurrentRequests: 5, usageLimitPeriod: 'monthly', notifyOnNewIp: false });
    const events = await call('get', `/api/v1/audit-events?keyId=${id}`, '/api/v1/audit-events');
    const [edit, creation] = events.body.data;
    expect(creation.action).toBe('key.create');
    expect(creation.changes).toMatchObject({
      tokenLimits: { before: null, after: EVERY_FIELD.tokenLimits },
      maxConcurrentRequests: { before: null, after: 100_000 },
      usageLimitPeriod: { before: null, after: 'daily' },
      notifyOnNewIp: { before: null, after: true },
    });
    expect(edit.action).toBe('key.update');
    expect(edit.changes).toEqual({
      tokenLimits: { before: EVERY_FIELD.tokenLimits, after: { perMinute: 3000, perDay: 1_000_000_000_000 } },
      maxConcurrentRequests: { before: 100_000, after: 5 },
      usageLimitPeriod: { before: 'daily', after: 'monthly' },
      notifyOnNewIp: { before: true, after: false },
    });
  });

  it('documents the fields in the OpenAPI document, for requests and for the Key', async () => {
    const doc = (await request(t.app).get('/api/openapi.json')).body;
    const { KeySettings, Key } = doc.components.schemas;
    for (const field of Object.keys(NO_GOVERNANCE)) {
      expect(KeySettings.properties).toHaveProperty(field);
      expect(Key.required).toContain(field);
      expect(Key.properties[field].description).toEqual(expect.any(String));
    }
    expect(Key.properties.usageLimitPeriod.enum).toEqual(['total', 'daily', 'monthly']);
  });
});
