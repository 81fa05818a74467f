/**
 * Catalog models served by an OpenAI-compatible upstream: requests are proxied (streaming too)
 * with Keyward's own upstream credentials, and accounted from the upstream's usage.
 */
import fs from 'node:fs';
import path from 'node:path';
import express from 'express';
import OpenAI from 'openai';
import { parseConfig } from '../../src/config';
import { createTestApp, type TestApp } from '../helpers/app';
import { tempDir } from '../helpers/databases';
import { listen } from '../helpers/listen';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789';
let received: { authorization?: string; body: Record<string, unknown> }[] = [];
let upstreamMode: 'ok' | 'unauthorized' | 'bad_request' | 'slow' = 'ok';

function fakeUpstream() {
  const app = express();
  app.use(express.json());
  app.post('/v1/chat/completions', async (req, res) => {
    received.push({ authorization: req.headers.authorization, body: req.body });
    if (upstreamMode === 'unauthorized') return void res.status(401).json({ error: { message: 'bad key', code: 'invalid_api_key' } });
    if (upstreamMode === 'bad_request') {
      return void res.status(400).json({ error: { message: 'temperature must be <= 2', code: 'invalid_value', type: 'invalid_request_error' } });
    }
    if (upstreamMode === 'slow') await new Promise((r) => setTimeout(r, 3000));
    const usage = { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 };
    const base = { id: 'chatcmpl-up', created: 1, model: 'upstream-name' };
    if (!req.body.stream) {
      return void res.json({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'from upstream' }, finish_reason: 'stop' }], usage });
    }
    res.setHeader('content-type', 'text/event-stream');
    for (const word of ['from', ' up', 'stream']) {
      res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: word }, finish_reason: null }] })}\n\n`);
    }
    res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    if (req.body.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  });
  return app;
}

let upstream: Awaited<ReturnType<typeof listen>>;
let t: TestApp;
let api: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  upstream = await listen(fakeUpstream());
  const dir = tempDir();
  const catalogPath = path.join(dir, 'models.json');
  fs.writeFileSync(
    catalogPath,
    JSON.stringify({
      models: [
        { id: 'local-small', ownedBy: 'keyward', created: 1, inputCentsPerMillion: 15, outputCentsPerMillion: 60, maxOutputTokens: 4096 },
        {
          id: 'proxied',
          ownedBy: 'example',
          created: 2,
          inputCentsPerMillion: 100,
          outputCentsPerMillion: 400,
          maxOutputTokens: 4096,
          upstream: { baseUrl: `${upstream.url}/v1`, apiKeyEnv: 'UPSTREAM_KEY', model: 'upstream-name' },
        },
      ],
    }),
  );
  const config = parseConfig({ MODEL_CATALOG_PATH: catalogPath, UPSTREAM_KEY, DEFAULT_MAX_TOKENS: '256', UPSTREAM_TIMEOUT_MS: '1000' });
  t = await createTestApp('sqlite', { config: { llm: config.llm } });
  api = await listen(t.app);
});
afterAll(async () => {
  await api.close();
  await upstream.close();
  await t.close();
});
beforeEach(() => {
  received = [];
  upstreamMode = 'ok';
});

const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${api.url}/api/v1`, maxRetries: 0 });

it('proxies with Keyward\'s upstream key, the upstream model name and a completion limit', async () => {
  const { key, apiKey } = await t.issue();
  const completion = await client(key).chat.completions.create({ model: 'proxied', messages: [{ role: 'user', content: 'hi' }] });
  expect(completion.model).toBe('proxied');
  expect(completion.choices[0].message.content).toBe('from upstream');
  expect(received).toHaveLength(1);
  expect(received[0].authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
  expect(received[0].authorization).not.toContain(key);
  expect(received[0].body).toMatchObject({ model: 'upstream-name', max_tokens: 256 });
  await t.ctx.usage.flush();
  const stored = await t.ctx.keys.findById(apiKey.id);
  expect(stored?.usage).toMatchObject({ requestsOk: 1, tokens: 24, spendMicroCents: 21 * 100 + 3 * 400 });
});

it('streams through, asks the upstream for usage, and shows the usage chunk only to callers who asked', async () => {
  const { key, apiKey } = await t.issue();
  const stream = await client(key).chat.completions.create({ model: 'proxied', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('from upstream');
  expect(chunks.every((c) => c.model === 'proxied')).toBe(true);
  expect(chunks.some((c) => c.usage)).toBe(false);
  expect(received[0].body).toMatchObject({ stream: true, stream_options: { include_usage: true } });

  const withUsage = await client(key).chat.completions.create({
    model: 'proxied',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const usageChunks = [];
  for await (const chunk of withUsage) if (chunk.usage) usageChunks.push(chunk.usage);
  expect(usageChunks).toEqual([{ prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 }]);

  await t.ctx.usage.flush();
  const stored = await t.ctx.keys.findById(apiKey.id);
  expect(stored?.usage).toMatchObject({ requestsOk: 2, tokens: 48, spendMicroCents: 2 * (21 * 100 + 3 * 400) });
});

it('maps upstream failures: refused credentials 502, client errors passed on, unreachable 502, slow 504', async () => {
  const { key } = await t.issue({ rateLimits: { perMinute: 100 } });
  const call = () =>
    fetch(`${api.url}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'proxied', messages: [{ role: 'user', content: 'hi' }] }),
    }).then(async (res) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code }));
  upstreamMode = 'unauthorized';
  expect(await call()).toEqual({ status: 502, code: 'upstream_error' });
  upstreamMode = 'bad_request';
  expect(await call()).toEqual({ status: 400, code: 'invalid_value' });
  upstreamMode = 'slow';
  expect(await call()).toEqual({ status: 504, code: 'upstream_timeout' });
  await upstream.close();
  expect(await call()).toEqual({ status: 502, code: 'upstream_unreachable' });
});
