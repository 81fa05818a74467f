/**
 * Bad input gets a clear 400 naming the field, changes nothing and consumes nothing: chat bodies
 * are validated before any rate window, quota or budget is touched, and key input that the data
 * layer cannot store is refused before it reaches the database.
 */
import request from 'supertest';
import { limitStatus } from '../../packages/guard/src/limits/limit-status';
import { chatBody, createTestApp, type TestApp } from '../helpers/app';

let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await createTestApp('sqlite');
  admin = (await t.issue({ scopes: ['admin'], tier: 'enterprise' })).key;
});
afterAll(async () => t.close());

const chat = (key: string, body: unknown) =>
  request(t.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).set('Content-Type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

const BAD_CHATS: [string, unknown, string][] = [
  ['role is a number', { model: 'local-small', messages: [{ role: 5, content: 'hi' }] }, 'messages.0.role'],
  ['name is an object', { model: 'local-small', messages: [{ role: 'user', name: { a: 1 }, content: 'hi' }] }, 'messages.0.name'],
  ['a content part is null', { model: 'local-small', messages: [{ role: 'user', content: [null] }] }, 'messages.0.content'],
  ['a text part without text', { model: 'local-small', messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'messages.0.content.0.text'],
  ['no messages', { model: 'local-small', messages: [] }, 'messages'],
  ['max_tokens beyond the model', { model: 'local-small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1_000_000 }, 'max_tokens'],
  ['not an object', [1, 2, 3], '(body)'],
  // JSON.parse takes these; serializing them for pricing or an upstream overflowed the stack (a 500).
  // (sent as text: JSON.stringify of them overflows this test's stack too)
  ['tools nested 5,000 deep', `{"model":"local-small","messages":[{"role":"user","content":"hi"}],"tools":${deep(5000)}}`, 'tools'],
  ['an extra message field nested 5,000 deep', `{"model":"local-small","messages":[{"role":"user","content":"hi","x":${deep(5000)}}]}`, 'messages'],
];

describe('chat bodies are validated before anything is counted', () => {
  it.each(BAD_CHATS)('%s: 400 invalid_request naming the field; quota, budget and windows untouched', async (_label, body, field) => {
    const { key, apiKey } = await t.issue({ usageLimit: 5, budget: { limitCents: 100, period: 'total' } });
    for (let i = 0; i < 6; i++) {
      const res = await chat(key, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    const status = await limitStatus(t.ctx.limits, apiKey);
    expect(status.quota).toEqual({ used: 0, limit: 5, remaining: 5, period: 'total', resetsAt: null });
    expect(status.budget).toMatchObject({ spentCents: 0, remainingCents: 100 });
    expect(status.rateLimits.find((w) => w.window === 'minute')?.remaining).toBe(10);
    // The quota is whole: five real requests pass, the sixth is refused.
    for (let i = 0; i < 5; i++) expect((await chat(key, chatBody())).status).toBe(200);
    expect((await chat(key, chatBody())).body.error.code).toBe('quota_exceeded');
    await t.ctx.usage.flush();
    const row = await t.ctx.database.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
    expect(Number(row.requestsOk) + Number(row.requestsFailed)).toBe(5);
  });

  it('an unknown model is 404 model_not_found and consumes nothing', async () => {
    const { key } = await t.issue({ usageLimit: 1 });
    expect((await chat(key, { model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] })).body.error.code).toBe('model_not_found');
    expect((await chat(key, chatBody())).status).toBe(200);
  });
});

const BAD_METADATA: [string, string, string][] = [
  ['a "$type" key', '{"$type":""}', 'metadata.$type'],
  ['a nested "__proto__" key', '{"x":{"__proto__":null}}', 'metadata.x.__proto__'],
  ['a "constructor" key', '{"constructor":{"prototype":1}}', 'metadata.constructor'],
  ['nesting 4,097 deep', `{"a":${'['.repeat(4097)}${']'.repeat(4097)}}`, 'metadata.a'],
  ['a NUL character', '{"a":"x\\u0000y"}', 'metadata.a'],
  ['an unpaired surrogate', '{"a":"\\ud800"}', 'metadata.a'],
  ['a number too large to store', '{"a":1e400}', 'metadata.a'],
];

describe('key input the data layer cannot store', () => {
  it.each(BAD_METADATA)('metadata with %s: 400 validation_error naming the field, nothing written', async (_label, metadata, field) => {
    const before = await t.ctx.database.prisma.apiKey.count();
    const audit = await t.ctx.database.prisma.auditEvent.count();
    const created = await request(t.app)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${admin}`)
      .set('Content-Type', 'application/json')
      .send(`{"name":"m","metadata":${metadata}}`);
    expect(created.status).toBe(400);
    expect(created.body.error.code).toBe('validation_error');
    expect(created.body.error.details[0].field.startsWith(field)).toBe(true);

    const { apiKey } = await t.issue();
    const updated = await request(t.app)
      .patch(`/api/v1/keys/${apiKey.id}`)
      .set('Authorization', `Bearer ${admin}`)
      .set('Content-Type', 'application/json')
      .send(`{"metadata":${metadata}}`);
    expect(updated.status).toBe(400);
    expect(await t.ctx.database.prisma.apiKey.count()).toBe(before + 1);
    expect(await t.ctx.database.prisma.auditEvent.count()).toBe(audit + 1);
  });

  it('metadata nested 16 levels is stored; 17 levels is refused', async () => {
    const nest = (levels: number): unknown => (levels === 0 ? 1 : { n: nest(levels - 1) });
    const ok = await request(t.app).post('/api/v1/keys').set('Authorization', `Bearer ${admin}`).send({ name: 'deep', metadata: nest(16) });
    expect(ok.status).toBe(201);
    const deeper = await request(t.app).post('/api/v1/keys').set('Authorization', `Bearer ${admin}`).send({ name: 'deeper', metadata: nest(17) });
    expect(deeper.status).toBe(400);
  });

  it('text with a NUL character is refused in every text field and filter', async () => {
    for (const body of [{ name: 'a\u0000b' }, { name: 'n', description: '\u0000' }, { name: 'n', tags: ['\u0000'] }, { name: 'n', ownerId: 'a\u0000' }]) {
      const res = await request(t.app).post('/api/v1/keys').set('Authorization', `Bearer ${admin}`).send(body);
      expect(res.status).toBe(400);
    }
    const list = await request(t.app).get('/api/v1/keys?search=%00').set('Authorization', `Bearer ${admin}`);
    expect(list.status).toBe(400);
    const odd = await request(t.app).get('/api/v1/keys/%00abc').set('Authorization', `Bearer ${admin}`);
    expect(odd.status).toBe(404);
  });
});
