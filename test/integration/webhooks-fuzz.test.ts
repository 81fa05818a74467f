/**
 * Property-based fuzzing of webhook create and update bodies (fast-check, the generators of
 * test/fuzz): whatever arrives, no answer is a 5xx, and a refused body writes nothing (no webhook
 * row changes, no audit event). Accepted bodies are the ordinary case and write exactly one event.
 */
import fc from 'fast-check';
import request from 'supertest';
import { SUBSCRIBABLE_TYPES } from '../../src/alerts/alert-types';
import { createTestApp, type TestApp } from '../helpers/app';
import { availableProviders } from '../helpers/databases';
import { anyJsonText, anyString, objectText, RUNS } from '../fuzz/arbitraries';

jest.setTimeout(Math.max(120_000, RUNS * 60));

const json = <T>(arb: fc.Arbitrary<T>) => arb.map((v) => JSON.stringify(v));
const url = fc.oneof(
  fc.constantFrom('https://example.com/hook', 'http://127.0.0.1:9/x', 'ftp://example.com/', 'https://u:p@example.com/', 'javascript:alert(1)', '//example.com', ''),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  anyString,
);
const events = fc.array(fc.oneof(fc.constantFrom(...SUBSCRIBABLE_TYPES, 'webhook.test'), anyString), { maxLength: 8 });
const secret = fc.oneof(
  fc.uint8Array({ minLength: 20, maxLength: 70 }).map((bytes) => `whsec_${Buffer.from(bytes).toString('base64')}`),
  anyString.map((s) => `whsec_${s}`),
  anyString,
);
const fields = {
  url: json(url),
  events: json(events),
  description: json(fc.oneof(anyString, fc.string({ maxLength: 600 }))),
  enabled: json(fc.oneof(fc.boolean(), fc.constantFrom('true', 0, null))),
};
/** Valid bodies with one field replaced by anything: the checks behind the first field are reached. */
const nearlyValid = fc
  .record({
    url: fc.oneof(fc.constant('https://example.com/hook'), fc.webUrl()),
    events: fc.subarray([...SUBSCRIBABLE_TYPES], { minLength: 1 }),
    secret: fc.option(secret, { nil: undefined }),
    description: fc.option(fc.string({ maxLength: 600 }), { nil: undefined }),
  })
  .chain((base) =>
    fc.option(fc.tuple(fc.constantFrom('url', 'events', 'secret', 'description', 'enabled'), anyJsonText), { nil: undefined }).map((swap) => {
      const text = JSON.stringify(base);
      return swap ? `${text.slice(0, -1)},${JSON.stringify(swap[0])}:${swap[1]}}` : text;
    }),
  );
/** Bodies a create accepts (so every run reaches the accepting path too, whatever the seed). */
const validCreate = fc
  .record({
    url: fc.constantFrom('https://example.com/hook', 'http://example.org/keyward/events'),
    events: fc.subarray([...SUBSCRIBABLE_TYPES], { minLength: 1 }),
    description: fc.string({ unit: 'grapheme-ascii', maxLength: 100 }),
  })
  .map((body) => JSON.stringify(body));
const createBody = fc.oneof(
  { weight: 2, arbitrary: validCreate },
  { weight: 3, arbitrary: nearlyValid },
  { weight: 3, arbitrary: objectText({ ...fields, secret: json(secret) }) },
  { weight: 1, arbitrary: anyJsonText },
);
/** Updates a webhook accepts (so every run reaches the accepting path too, whatever the seed). */
const validUpdate = fc
  .record(
    {
      description: fc.string({ unit: 'grapheme-ascii', maxLength: 100 }),
      enabled: fc.boolean(),
      events: fc.subarray([...SUBSCRIBABLE_TYPES], { minLength: 1 }),
    },
    { requiredKeys: [] },
  )
  .map((body) => JSON.stringify(body));
const updateBody = fc.oneof(
  { weight: 5, arbitrary: objectText({ ...fields, rotateSecret: json(fc.oneof(fc.boolean(), fc.constant('yes'))) }) },
  { weight: 2, arbitrary: validUpdate },
  { weight: 1, arbitrary: anyJsonText },
);

describe.each(availableProviders)('webhook bodies on %s', (provider) => {
  let t: TestApp;
  let admin: string;

  beforeAll(async () => {
    t = await createTestApp(provider, { config: { management: { ratePerMinute: 100_000 } } });
    admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
  });
  afterAll(async () => t.close());

  const state = async () => {
    const db = t.ctx.database.prisma;
    const [webhooks, audit] = await Promise.all([db.webhook.findMany({ orderBy: { id: 'asc' } }), db.auditEvent.count()]);
    return { webhooks: JSON.stringify(webhooks), count: webhooks.length, audit };
  };
  const send = (method: 'post' | 'patch', path: string, body: string) =>
    request(t.app)[method](path).set('Authorization', `Bearer ${admin}`).set('Content-Type', 'application/json').send(body);

  test('create bodies: never a 5xx; a refused body writes nothing', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(createBody, async (body) => {
        // Room for the next accepted body (a tenant may have 20 webhooks).
        if ((await t.ctx.database.prisma.webhook.count()) >= 15) await t.ctx.database.prisma.webhook.deleteMany();
        const before = await state();
        const res = await send('post', '/api/v1/webhooks', body);
        expect(res.status).toBeLessThan(500);
        const after = await state();
        if (res.status >= 400) {
          expect(res.body.error.code).toEqual(expect.any(String));
          expect(after).toEqual(before);
        } else {
          accepted += 1;
          expect(res.status).toBe(201);
          expect(after.count).toBe(before.count + 1);
          expect(after.audit).toBe(before.audit + 1);
        }
      }),
      { numRuns: RUNS },
    );
    // The generator reaches valid bodies too, or the property proved little.
    expect(accepted).toBeGreaterThan(0);
  });

  test('update bodies: never a 5xx; a refused body changes nothing', async () => {
    const created = await send('post', '/api/v1/webhooks', JSON.stringify({ url: 'https://example.com/h', events: ['key.revoked'] }));
    expect(created.status).toBe(201);
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(updateBody, async (body) => {
        const before = await state();
        const res = await send('patch', `/api/v1/webhooks/${created.body.id}`, body);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(await state()).toEqual(before);
        else accepted += 1;
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(0);
  });
});
