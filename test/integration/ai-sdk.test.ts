/**
 * The Vercel AI SDK's default OpenAI provider, `openai('local-small')`, calls the Responses API
 * (POST /responses): generateText and streamText against the app listening on a port, with usage
 * reported to the SDK and accounted on the key.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { createTestApp, type TestApp } from '../helpers/app';
import { listen } from '../helpers/listen';

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

/** The provider as an app would make it; `paths` records the routes it calls. */
const provider = (apiKey: string, paths: string[] = []) =>
  createOpenAI({
    apiKey,
    baseURL: `${base.url}/api/v1`,
    fetch: async (url, init) => {
      paths.push(new URL(String(url)).pathname);
      return fetch(url, init);
    },
  });

async function storedUsage(keyId: string) {
  await t.ctx.usage.flush();
  return (await t.ctx.keys.findById(keyId))?.usage;
}

describe('the AI SDK (Responses API provider)', () => {
  it('generateText answers with usage, accounted on the key', async () => {
    const { key, apiKey } = await t.issue();
    const paths: string[] = [];
    const result = await generateText({ model: provider(key, paths)('local-small'), system: 'Be brief.', prompt: 'What is Keyward?', maxOutputTokens: 40 });
    expect(paths).toEqual(['/api/v1/responses']);
    expect(result.text).toBe('This is local-small answering. You said: What is Keyward?');
    expect(result.finishReason).toBe('stop');
    expect(result.usage.outputTokens).toBe(9);
    expect(result.usage.totalTokens).toBe((result.usage.inputTokens ?? 0) + 9);
    expect(await storedUsage(apiKey.id)).toMatchObject({ requestsOk: 1, tokens: result.usage.totalTokens });
  });

  it('streamText streams the deltas and ends with usage; a cut answer finishes with "length"', async () => {
    const { key, apiKey } = await t.issue();
    const result = streamText({ model: provider(key)('local-small'), prompt: 'stream this please', maxOutputTokens: 5 });
    const parts: string[] = [];
    for await (const delta of result.textStream) parts.push(delta);
    expect(parts.length).toBe(5);
    expect(parts.join('')).toBe('This is local-small answering. You');
    expect(await result.finishReason).toBe('length');
    const usage = await result.usage;
    expect(usage.outputTokens).toBe(5);
    expect(await storedUsage(apiKey.id)).toMatchObject({ requestsOk: 1, tokens: usage.totalTokens });
  });

  it('surfaces a refusal as an API error with the status', async () => {
    const { key } = await t.issue({ allowedModels: ['local-large'] });
    await expect(generateText({ model: provider(key)('local-small'), prompt: 'x', maxRetries: 0 })).rejects.toMatchObject({ statusCode: 403 });
  });
});
