/**
 * The protected API through the unmodified `openai` SDK (baseURL = <app>/api/v1), and the budget
 * under concurrency: spend never passes the limit and no reservation is left behind.
 */
import express from 'express';
import OpenAI from 'openai';
import { testActor } from '../helpers/context';
import { createTestApp, type TestApp } from '../helpers/app';
import { listen } from '../helpers/listen';
import { tempDir } from '../helpers/databases';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream';
import { parseConfig } from '../../src/config';
import fs from 'node:fs';
import path from 'node:path';

let t: TestApp;
let base: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  t = await createTestApp('sqlite');
  base = await listen(t.app);
});
afterAll(async () => {
  await base.close();
  await t.close();
});

const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${base.url}/api/v1`, maxRetries: 0 });

async function storedUsage(keyId: string) {
  await t.ctx.usage.flush();
  return (await t.ctx.keys.findById(keyId))?.usage;
}

describe('the openai SDK as a client', () => {
  it('lists only the models the key may use', async () => {
    const { key } = await t.issue();
    const all = await client(key).models.list();
    expect(all.data.map((m) => m.id).sort()).toEqual(['local-large', 'local-small']);
    expect(all.data[0]).toMatchObject({ object: 'model', owned_by: 'keyward' });
    const limited = await t.issue({ allowedModels: ['local-large'] });
    expect((await client(limited.key).models.list()).data.map((m) => m.id)).toEqual(['local-large']);
  });

  it('completes a chat and accounts its usage', async () => {
    const { key, apiKey } = await t.issue();
    const completion = await client(key).chat.completions.create({
      model: 'local-small',
      messages: [{ role: 'user', content: 'What is Keyward?' }],
      max_tokens: 50,
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0].message.content).toBe('This is local-small answering. You said: What is Keyward?');
    const usage = completion.usage;
    expect(usage).toBeDefined();
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
    const stored = await storedUsage(apiKey.id);
    expect(stored).toMatchObject({ requestsOk: 1, requestsFailed: 0, tokens: usage?.total_tokens });
    // local-small costs 15 c/M in and 60 c/M out: micro-cents = tokens x price.
    expect(stored?.spendMicroCents).toBe((usage?.prompt_tokens ?? 0) * 15 + (usage?.completion_tokens ?? 0) * 60);
    expect(stored?.lastUsedAt).toBeInstanceOf(Date);
  });

  it('streams chunks, ends with [DONE], sends a usage chunk when asked, and accounts either way', async () => {
    const { key, apiKey } = await t.issue();
    const stream = await client(key).chat.completions.create({
      model: 'local-small',
      messages: [{ role: 'user', content: 'stream please' }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('This is local-small answering. You');
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe('length');
    const usage = chunks[chunks.length - 1].usage;
    expect(usage).toMatchObject({ completion_tokens: 5 });

    const quiet = await client(key).chat.completions.create({
      model: 'local-small',
      messages: [{ role: 'user', content: 'no usage chunk' }],
      max_tokens: 3,
      stream: true,
    });
    const quietChunks = [];
    for await (const chunk of quiet) quietChunks.push(chunk);
    expect(quietChunks.some((c) => c.usage)).toBe(false);
    const stored = await storedUsage(apiKey.id);
    // The local provider counts prompts as 3 + per message (4 + ceil(characters / 4)) tokens.
    const quietTokens = 3 + 4 + Math.ceil('no usage chunk'.length / 4) + 3;
    expect(stored).toMatchObject({ requestsOk: 2, tokens: (usage?.total_tokens ?? 0) + quietTokens });
  });

  it('surfaces refusals as SDK errors with status and code', async () => {
    const { key, apiKey } = await t.issue({ allowedModels: ['local-large'], rateLimits: { perMinute: 1 } });
    const expectSdkError = async (promise: Promise<unknown>, status: number, code: string) => {
      const error = await promise.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect({ status: (error as InstanceType<typeof OpenAI.APIError>).status, code: (error as InstanceType<typeof OpenAI.APIError>).code }).toEqual({ status, code });
    };
    await expectSdkError(client('kw_nope').models.list(), 401, 'invalid_api_key');
    await expectSdkError(client(key).chat.completions.create({ model: 'local-small', messages: [{ role: 'user', content: 'x' }] }), 403, 'model_not_allowed');
    await client(key).models.list();
    await expectSdkError(client(key).models.list(), 429, 'rate_limited');
    const other = await t.issue();
    await expectSdkError(client(other.key).chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] }), 404, 'model_not_found');
    await expectSdkError(
      client(other.key).chat.completions.create({ model: 'local-small', messages: [] as never[] }),
      400,
      'invalid_request',
    );
    await t.ctx.keys.revoke(t.tenant.id, apiKey.id, testActor);
    await expectSdkError(client(key).models.list(), 401, 'key_revoked');
  });
});

describe('GET /api/v1/key', () => {
  it('describes the calling key: limits with remaining and reset, quota and budget', async () => {
    const { key, apiKey } = await t.issue({ usageLimit: 100, budget: { limitCents: 500, period: 'monthly' }, allowedModels: ['local-small'] });
    await client(key).chat.completions.create({ model: 'local-small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    const res = await fetch(`${base.url}/api/v1/key`, { headers: { authorization: `Bearer ${key}` } });
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      id: apiKey.id,
      name: apiKey.name,
      tenant: { id: t.tenant.id, slug: t.tenant.slug },
      scopes: ['api'],
      allowedModels: ['local-small'],
      quota: { used: 2, limit: 100 },
      budget: { limitCents: 500, period: 'monthly' },
    });
    expect(body.rateLimits).toEqual([
      expect.objectContaining({ window: 'minute', limit: 10, remaining: 8, reset: expect.any(Number) }),
      expect.objectContaining({ window: 'hour', limit: 100, remaining: 98 }),
      expect.objectContaining({ window: 'day', limit: 1000, remaining: 998 }),
      expect.objectContaining({ window: 'month', limit: 10000, remaining: 9998 }),
    ]);
    expect(body.budget.spentCents).toBeGreaterThan(0);
    expect(body.budget.spentCents + body.budget.remainingCents).toBeCloseTo(500, 6);
    const now = new Date();
    expect(body.budget.resetsAt).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString());
    expect(JSON.stringify(body)).not.toMatch(/secretHash|key\.slice/);
  });
});

describe('budgets under concurrency', () => {
  it('50 parallel chats against a budget that fits about 10: spend never passes the limit, nothing stays reserved', async () => {
    // Each request may cost up to (prompt bytes + framing) x 250 + 2,000 x 1,000 micro-cents on local-large.
    const body = { model: 'local-large', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 2000 };
    const worstCase = (3 + 4 + Buffer.byteLength('Tell me a story') + Buffer.byteLength('user')) * 250 + 2000 * 1000;
    const limitCents = Math.floor((worstCase * 10.5) / 1_000_000);
    const { key, apiKey } = await t.issue({ budget: { limitCents, period: 'total' }, rateLimits: { perMinute: 1000 } });
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        fetch(`${base.url}/api/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(async (res) => ({ status: res.status, body: (await res.json()) as any })),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 402);
    expect(ok.length + refused.length).toBe(50);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    expect(refused.every((r) => r.body.error.code === 'budget_exceeded')).toBe(true);
    const spent = ok.reduce((sum, r) => sum + r.body.usage.prompt_tokens * 250 + r.body.usage.completion_tokens * 1000, 0);
    expect(spent).toBeLessThanOrEqual(limitCents * 1_000_000);

    await new Promise((resolve) => setTimeout(resolve, 50));
    const ledger = t.ctx.limits.ledger as unknown as { outstanding(): number };
    expect(ledger.outstanding()).toBe(0);
    const stored = await storedUsage(apiKey.id);
    expect(stored?.spendMicroCents).toBe(spent);
    expect(stored?.spendMicroCents).toBeLessThanOrEqual(limitCents * 1_000_000);
    const record = await t.ctx.keys.findById(apiKey.id);
    expect(record?.ledger.budgetSpentMicroCents).toBe(spent);
  });
});

describe('the openai SDK on the Responses API and GET /models/{id}', () => {
  it('creates a response, plain and streamed, and retrieves a model', async () => {
    const { key, apiKey } = await t.issue();
    const response = await client(key).responses.create({ model: 'local-small', input: 'What is Keyward?', instructions: 'Answer.', max_output_tokens: 50 });
    expect(response.object).toBe('response');
    expect(response.output_text).toBe('This is local-small answering. You said: What is Keyward?');
    expect(response.usage?.total_tokens).toBe((response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0));

    const stream = await client(key).responses.create({ model: 'local-small', input: [{ role: 'user', content: 'stream it' }], max_output_tokens: 6, stream: true });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed' || event.type === 'response.incomplete') completed = event.response;
    }
    expect(types[0]).toBe('response.created');
    expect(text).toBe('This is local-small answering. You said:');
    expect(completed?.usage?.output_tokens).toBe(6);
    const stored = await storedUsage(apiKey.id);
    expect(stored).toMatchObject({ requestsOk: 2, tokens: (response.usage?.total_tokens ?? 0) + (completed?.usage?.total_tokens ?? 0) });

    const model = await client(key).models.retrieve('local-small');
    expect(model).toMatchObject({ id: 'local-small', object: 'model', owned_by: 'keyward' });
    const limited = await t.issue({ allowedModels: ['local-large'] });
    await expect(client(limited.key).models.retrieve('local-small')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });
});

describe('x-should-retry, as the openai SDK obeys it (requests counted by the server)', () => {
  let slow: FakeUpstream;
  let app: TestApp;
  let counted: Awaited<ReturnType<typeof listen>>;
  let requests = 0;
  beforeAll(async () => {
    // An upstream model that takes 700 ms: a request to it holds a key's only concurrency slot.
    slow = await startFakeUpstream({ inputCentsPerMillion: 1, outputCentsPerMillion: 1, promptTokens: 1, completionTokens: 1, delayMs: 700 });
    const catalogPath = path.join(tempDir(), 'models.json');
    fs.writeFileSync(catalogPath, JSON.stringify({ models: [slow.catalogModel('slow'), { id: 'local-small', ownedBy: 'keyward', created: 1, inputCentsPerMillion: 15, outputCentsPerMillion: 60, maxOutputTokens: 4096 }] }));
    app = await createTestApp('sqlite', { config: { llm: parseConfig({ MODEL_CATALOG_PATH: catalogPath }).llm } });
    const outer = express();
    outer.use((_req, _res, next) => {
      requests += 1;
      next();
    });
    outer.use(app.app);
    counted = await listen(outer);
  });
  afterAll(async () => {
    await counted.close();
    await slow.close();
    await app.close();
  });
  // The SDK's default: two retries.
  const retrying = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${counted.url}/api/v1`, maxRetries: 2 });

  it('a used-up quota is asked once, not three times', async () => {
    const { key } = await app.issue({ usageLimit: 1 });
    await retrying(key).models.list();
    requests = 0;
    const error = await retrying(key).models.list().catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, code: 'quota_exceeded' });
    expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
    expect(requests).toBe(1);
  });

  it('a rate limit that clears in a second is retried, and succeeds', async () => {
    const { key } = await app.issue({ maxConcurrentRequests: 1 });
    const holding = retrying(key).responses.create({ model: 'slow', input: 'hold the slot' });
    await new Promise((resolve) => setTimeout(resolve, 150));
    requests = 0;
    const started = Date.now();
    // Refused (429 rate_limited, Retry-After: 1, x-should-retry: true), retried after a second.
    const model = await retrying(key).models.retrieve('local-small');
    expect(model.id).toBe('local-small');
    expect(requests).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((await holding).status).toBe('completed');
  });
});
