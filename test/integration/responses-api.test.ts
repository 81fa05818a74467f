/**
 * POST /api/v1/responses (OpenAI's Responses API) and GET /api/v1/models/{id}: served through the
 * chat plan and providers, guarded and budgeted exactly like chat (validated before anything is
 * counted, worst case reserved from budgets and token windows, usage reported as produced), for
 * local and upstream models; raw SSE events checked against OpenAI's order and shapes.
 */
import request from 'supertest';
import { parseConfig } from '../../src/config';
import { createTestApp, type TestApp } from '../helpers/app';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream';
import { tempDir } from '../helpers/databases';
import fs from 'node:fs';
import path from 'node:path';

let t: TestApp;
let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream({ inputCentsPerMillion: 100, outputCentsPerMillion: 400, promptTokens: 11, completionTokens: 4, delayMs: 1 });
  const catalogPath = path.join(tempDir(), 'models.json');
  const local = parseConfig({}).llm.models.map(({ upstream: _u, ...m }) => m);
  fs.writeFileSync(catalogPath, JSON.stringify({ models: [...local, upstream.catalogModel('proxied')] }));
  t = await createTestApp('sqlite', { config: { llm: { ...parseConfig({ MODEL_CATALOG_PATH: catalogPath }).llm, upstreamTimeoutMs: 5000 } } });
});
afterAll(async () => {
  await upstream.close();
  await t.close();
});

async function storedUsage(keyId: string) {
  await t.ctx.usage.flush();
  return (await t.ctx.keys.findById(keyId))?.usage;
}

const post = (key: string, body: unknown) => request(t.app).post('/api/v1/responses').set('Authorization', `Bearer ${key}`).send(body as object);

/** Parses an SSE body into its events (name and JSON data). */
function events(text: string): { event: string; data: any }[] {
  return text
    .split(/\n\n/)
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '';
      const data = JSON.parse(lines.find((l) => l.startsWith('data: '))?.slice(6) ?? 'null');
      return { event, data };
    });
}

describe('POST /api/v1/responses', () => {
  it('answers a string input with a response object, instructions echoed, usage accounted', async () => {
    const { key, apiKey } = await t.issue();
    const res = await post(key, { model: 'local-small', input: 'What is Keyward?', instructions: 'Be brief.', max_output_tokens: 50 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'local-small',
      instructions: 'Be brief.',
      max_output_tokens: 50,
      error: null,
      incomplete_details: null,
      output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'This is local-small answering. You said: What is Keyward?', annotations: [] }] }],
    });
    expect(res.body.id).toMatch(/^resp_/);
    const usage = res.body.usage;
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    // system (3 + 4 + ceil(9/4)) + user (4 + ceil(16/4)): the local provider's estimate.
    expect(usage.input_tokens).toBe(3 + 4 + 3 + 4 + 4);
    expect(usage.output_tokens).toBe(9);
    const stored = await storedUsage(apiKey.id);
    expect(stored).toMatchObject({ requestsOk: 1, tokens: usage.total_tokens, spendMicroCents: usage.input_tokens * 15 + usage.output_tokens * 60 });
  });

  it('takes a list of messages with string or input_text content; the last user message is answered', async () => {
    const { key } = await t.issue();
    const res = await post(key, {
      model: 'local-large',
      input: [
        { role: 'developer', content: 'You are terse.' },
        { role: 'user', content: 'first question' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'first answer' }] },
        { role: 'user', content: [{ type: 'input_text', text: 'second' }, { type: 'input_text', text: ' question' }] },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.output[0].content[0].text).toBe('This is local-large answering. You said: second question');
  });

  it('marks an answer cut by max_output_tokens incomplete', async () => {
    const { key } = await t.issue();
    const res = await post(key, { model: 'local-small', input: 'hello', max_output_tokens: 3 });
    expect(res.body).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: { output_tokens: 3 } });
    expect(res.body.output[0].content[0].text).toBe('This is local-small');
  });

  it('streams OpenAI\'s events in order, with sequence numbers, and accounts what was sent', async () => {
    const { key, apiKey } = await t.issue();
    const res = await post(key, { model: 'local-small', input: 'stream me', max_output_tokens: 4, stream: true }).buffer(true).parse((r, done) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => done(null, text));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const list = events(res.body as string);
    const types = list.map((e) => e.data.type);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.incomplete',
    ]);
    expect(list.every((e) => e.event === e.data.type)).toBe(true);
    expect(list.map((e) => e.data.sequence_number)).toEqual(list.map((_, i) => i));
    const deltas = list.filter((e) => e.data.type === 'response.output_text.delta').map((e) => e.data.delta);
    expect(deltas.join('')).toBe('This is local-small answering.');
    const messageId = list[2].data.item.id;
    expect(list[4].data).toMatchObject({ item_id: messageId, output_index: 0, content_index: 0 });
    expect(list[8].data.text).toBe('This is local-small answering.');
    const last = list[list.length - 1].data.response;
    expect(last).toMatchObject({ status: 'incomplete', output: [{ id: messageId, content: [{ text: 'This is local-small answering.' }] }], usage: { output_tokens: 4 } });
    expect((await storedUsage(apiKey.id))?.tokens).toBe(last.usage.total_tokens);

    const full = await post(key, { model: 'local-small', input: 'hi', stream: true }).buffer(true).parse((r, done) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => done(null, text));
    });
    expect(events(full.body as string).pop()?.data.type).toBe('response.completed');
  });

  it('refuses a bad body with 400 naming the field, and an unknown model with 404, before counting anything', async () => {
    const { key, apiKey } = await t.issue({ rateLimits: { perMinute: 2 } });
    const cases: [unknown, string][] = [
      [{ input: 'x' }, 'model'],
      [{ model: 'local-small' }, 'input'],
      [{ model: 'local-small', input: 42 }, 'input'],
      [{ model: 'local-small', input: [{ role: 'robot', content: 'x' }] }, 'input.0.role'],
      [{ model: 'local-small', input: [{ role: 'user', content: [{ type: 'input_text' }] }] }, 'input.0.content.0.text'],
      [{ model: 'local-small', input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
      [{ model: 'local-small', input: 'x', max_output_tokens: 5000 }, 'max_output_tokens'],
      [{ model: 'local-small', input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id'],
      [{ model: 'local-small', input: 'x', instructions: 7 }, 'instructions'],
    ];
    for (const [body, field] of cases) {
      const res = await post(key, body);
      expect({ field, status: res.status, code: res.body.error.code }).toEqual({ field, status: 400, code: 'invalid_request' });
      expect(res.body.error.details[0].field).toBe(field);
    }
    const unknown = await post(key, { model: 'gpt-nope', input: 'x' });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'model_not_found']);
    // Nothing was counted: both requests of the minute are still there.
    expect((await post(key, { model: 'local-small', input: 'x' })).status).toBe(200);
    expect((await post(key, { model: 'local-small', input: 'x' })).status).toBe(200);
    expect((await post(key, { model: 'local-small', input: 'x' })).status).toBe(429);
    expect(await storedUsage(apiKey.id)).toMatchObject({ requestsOk: 2 });
  });

  it('reserves the worst case like chat: a budget or token window too small for max_output_tokens refuses', async () => {
    // local-large: 2,000 output tokens cost 2,000,000 micro-cents (2 cents) at most.
    const poor = await t.issue({ budget: { limitCents: 1, period: 'monthly' } });
    const refused = await post(poor.key, { model: 'local-large', input: 'hi', max_output_tokens: 2000 });
    expect([refused.status, refused.body.error.code]).toEqual([402, 'budget_exceeded']);
    expect((await post(poor.key, { model: 'local-large', input: 'hi', max_output_tokens: 5 })).status).toBe(200);

    const tokens = await t.issue({ tokenLimits: { perMinute: 100 } });
    const tooMany = await post(tokens.key, { model: 'local-small', input: 'hi', max_output_tokens: 200 });
    expect([tooMany.status, tooMany.body.error.code]).toEqual([429, 'rate_limited']);
    const ok = await post(tokens.key, { model: 'local-small', input: 'hi', max_output_tokens: 10 });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-limit-tokens']).toBe('100');
  });

  it('refuses a model the key may not use (403) like chat', async () => {
    const { key } = await t.issue({ allowedModels: ['local-large'] });
    const res = await post(key, { model: 'local-small', input: 'x' });
    expect([res.status, res.body.error.code]).toEqual([403, 'model_not_allowed']);
  });

  it('serves upstream models through /chat/completions upstream, streamed or not, accounted from the upstream\'s usage', async () => {
    const { key, apiKey } = await t.issue();
    const before = upstream.stats().received;
    const plain = await post(key, { model: 'proxied', input: 'hello', instructions: 'sys', max_output_tokens: 10 });
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ model: 'proxied', status: 'completed', output: [{ content: [{ text: 'x x x x' }] }], usage: { input_tokens: 11, output_tokens: 4, total_tokens: 15 } });

    const streamed = await post(key, { model: 'proxied', input: 'hello', stream: true }).buffer(true).parse((r, done) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => done(null, text));
    });
    const list = events(streamed.body as string);
    expect(list.filter((e) => e.data.type === 'response.output_text.delta').map((e) => e.data.delta).join('')).toBe('x x x x ');
    expect(list.pop()?.data).toMatchObject({ type: 'response.completed', response: { usage: { input_tokens: 11, output_tokens: 4 } } });
    expect(upstream.stats().received).toBe(before + 2);
    expect(await storedUsage(apiKey.id)).toMatchObject({ requestsOk: 2, tokens: 30, spendMicroCents: 2 * (11 * 100 + 4 * 400) });
  });
});

describe('GET /api/v1/models/{id}', () => {
  it('answers OpenAI\'s model object; 404 model_not_found for an unknown model or one the key may not use', async () => {
    const { key } = await t.issue({ allowedModels: ['local-large'] });
    const get = (id: string) => request(t.app).get(`/api/v1/models/${id}`).set('Authorization', `Bearer ${key}`);
    const ok = await get('local-large');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ id: 'local-large', object: 'model', created: expect.any(Number), owned_by: 'keyward' });
    for (const id of ['local-small', 'nope']) {
      const res = await get(id);
      expect([res.status, res.body.error.code]).toEqual([404, 'model_not_found']);
    }
    expect((await request(t.app).get('/api/v1/models/local-large')).status).toBe(401);
  });
});
