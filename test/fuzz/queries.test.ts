/**
 * Property-based fuzzing (fast-check) of query strings: every list and report of the management API
 * (keys, a key's requests, usage and addresses, tenant usage, the audit log, stats, webhooks and
 * their deliveries, alerts) and of the dashboard (its pages and CSV exports, signed in as a
 * platform admin who sees them all), with the parameters they read and others, given any text,
 * repeated, empty or percent-encoded junk. Whatever arrives: no answer is a 5xx, an API refusal
 * names its error code, and nothing is written (keys, audit events, usage, people, webhooks).
 */
import fc from 'fast-check';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/app';
import { availableProviders } from '../helpers/databases';
import { createWorld, signedIn, snapshot, type Agent, type World } from '../dashboard/dashboard-helpers';
import { anyString, RUNS } from './arbitraries';

jest.setTimeout(Math.max(120_000, RUNS * 60));

/** What the lists and reports read, and a few they do not. */
const PARAMS = [
  'cursor', 'size', 'page', 'q', 'tag', 'status', 'sort', 'order', 'owner', 'from', 'to', 'groupBy', 'format',
  'outcome', 'model', 'ip', 'action', 'actor', 'actorId', 'target', 'targetId', 'since', 'until', 'type', 'limit', 'x',
];

/** Values: plausible ones, numbers at the edges, dates, cursors of any shape, and hostile text. */
const value = fc.oneof(
  { weight: 3, arbitrary: anyString },
  { weight: 1, arbitrary: fc.constantFrom('', '0', '-1', '1', '25', '100', '101', '10001', '1e9', 'NaN', '9007199254740993', 'true', 'null') },
  { weight: 1, arbitrary: fc.constantFrom('key', 'day', 'model', 'csv', 'json', 'active', 'revoked', 'expired', 'name', '-createdAt', 'lastUsedAt', 'asc', 'desc') },
  { weight: 1, arbitrary: fc.tuple(fc.date({ noInvalidDate: true }), fc.constantFrom(10, 19, 24)).map(([d, length]) => d.toISOString().slice(0, length)) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((s) => Buffer.from(s).toString('base64')) },
);

/** A query string: chosen parameters, some repeated (arrays), encoded as a client would, or raw percent junk. */
const queryText = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.tuple(fc.constantFrom(...PARAMS), value), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString()) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz', 'cursor=%E0%A4%A', 'size=%00', 'q=%ED%A0%80', 'from[]=1&to[a]=2', 'groupBy=key&groupBy=day', '&&&==&') },
);

describe.each(availableProviders)('on %s', (provider) => {
  let t: TestApp;
  let admin: string;
  const paths: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(provider);
    admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
    const used = await t.issue({ name: 'used', tags: ['fuzz'] });
    // Some usage, so the reports have rows to page through.
    for (let i = 0; i < 3; i++) {
      await request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${used.key}`).send({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    }
    await t.ctx.usage.flush();
    const webhook = await request(t.app).post('/api/v1/webhooks').set('Authorization', `Bearer ${admin}`).send({ url: 'https://hooks.example.com/keyward', events: ['key.revoked'] });
    const id = used.apiKey.id;
    paths.push(
      '/api/v1/keys',
      `/api/v1/keys/${id}/requests`,
      `/api/v1/keys/${id}/usage`,
      `/api/v1/keys/${id}/ips`,
      '/api/v1/usage',
      '/api/v1/audit-events',
      '/api/v1/stats',
      '/api/v1/webhooks',
      `/api/v1/webhooks/${webhook.body.id ?? webhook.body.webhook?.id ?? 'none'}/deliveries`,
      '/api/v1/alerts',
    );
  });
  afterAll(async () => t.close());

  const written = async () => {
    await t.ctx.usage.flush();
    const db = t.ctx.database.prisma;
    const [keys, audit, log] = await Promise.all([db.apiKey.count(), db.auditEvent.count(), db.requestLog.count()]);
    return { keys, audit, log };
  };

  test('list and report query strings: never a 5xx, a refusal names its code, nothing written', async () => {
    const before = await written();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), queryText, async (path, query) => {
        const res = await request(t.app).get(`${path}?${query}`).set('Authorization', `Bearer ${admin}`);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(res.body.error.code).toEqual(expect.any(String));
      }),
      { numRuns: RUNS },
    );
    // Reads write nothing, whatever they were asked (the management API's own requests are not logged as key usage).
    expect(await written()).toEqual(before);
  });
});

describe('the dashboard on sqlite', () => {
  let w: World;
  let agent: Agent;
  let paths: string[];

  beforeAll(async () => {
    w = await createWorld();
    agent = await signedIn(w.app, w.admin.email);
    const key = w.keys.member.id;
    paths = [
      '/', '/keys', `/keys/${key}`, `/keys/${key}/requests`, `/keys/${key}/requests.csv`, `/keys/${key}/usage.csv`, '/audit', '/usage.csv',
      '/members', '/settings', `/settings/webhooks/${w.webhooks.tenant.id}`, '/tenants', `/tenants/${w.tenant.id}`, '/users', `/users/${w.member.id}`, '/unknown-keys',
    ];
  });
  afterAll(async () => w.close());

  test('page and export query strings: never a 5xx, nothing written', async () => {
    const before = await snapshot(w);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), queryText, async (path, query) => {
        const res = await agent.get(`${path}?${query}`);
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
    expect(await snapshot(w)).toEqual(before);
  });
});
