/**
 * Numbers an app gives the guard (reportUsage, the maxCost and maxTokens hooks) must be finite and
 * within ±Number.MAX_SAFE_INTEGER: a NaN, an infinity or a number past bigint's range (1e300 on
 * PostgreSQL) that reached a usage batch made the database refuse that batch every time it was
 * sent again, and no usage of any key was written after it. They are refused where they come in,
 * and the usage of the requests around them is written (SQLite and PostgreSQL).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { apiKeyAuth } from '../../src';
import { availableProviders } from '../helpers/databases';
import { buildKeyInput, buildTenant, createTestContext, type TestContext, testActor } from '../helpers/context';

describe.each(availableProviders)('numbers from the app on %s', (provider) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(provider);
  });
  afterAll(async () => t.close());

  /** A guarded app whose handler reports what x-tokens and x-cost say, and whose maxCost is x-max-cost. */
  async function world() {
    const tenant = await buildTenant(t.ctx);
    const { key, apiKey } = await t.ctx.keys.create(tenant.id, buildKeyInput({ budget: { limitCents: 1000, period: 'monthly' } }), testActor);
    const errors: unknown[] = [];
    const app = express();
    app.use(
      apiKeyAuth({
        keys: t.ctx.keyStore,
        hasher: t.ctx.hasher,
        limits: t.ctx.limits,
        usage: t.ctx.usage,
        clientIp: () => '127.0.0.1',
        maxCost: (req: Request) => (req.get('x-max-cost') === undefined ? 100 : Number(req.get('x-max-cost'))),
        onError: (error) => errors.push(error),
      }),
    );
    app.get('/', (req, res) => {
      const parse = (name: string) => (req.get(name) === undefined ? undefined : Number(req.get(name)));
      req.apiKey?.reportUsage({ tokens: parse('x-tokens'), costMicroCents: parse('x-cost') });
      if (req.get('x-again') !== undefined) req.apiKey?.reportUsage({ tokens: parse('x-again') });
      res.json({ ok: true });
    });
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      errors.push(error);
      res.status(500).json({ error: { message: error.message } });
    });
    const send = (headers: Record<string, string>) => request(app).get('/').set({ authorization: `Bearer ${key}`, ...headers });
    return { keyId: apiKey.id, errors, send };
  }

  const range = 'a finite number between -9007199254740991 and 9007199254740991';

  it.each<[string, Record<string, string>, string]>([
    ['tokens', { 'x-tokens': 'not a number' }, `reportUsage: tokens must be ${range} (got NaN).`],
    ['costMicroCents', { 'x-cost': 'Infinity' }, `reportUsage: costMicroCents must be ${range} (got Infinity).`],
    ['tokens', { 'x-tokens': '1e300' }, `reportUsage: tokens must be ${range} (got 1e+300).`],
    ['costMicroCents', { 'x-cost': '-1e19' }, `reportUsage: costMicroCents must be ${range} (got -10000000000000000000).`],
    ['tokens', { 'x-tokens': '9007199254740991', 'x-again': '1' }, "reportUsage: the request's tokens would pass 9007199254740991; this report is not counted."],
  ])('refuses a reported %s that is not a safe number (%j), and keeps writing usage', async (_field, headers, message) => {
    const { keyId, errors, send } = await world();
    expect((await send(headers)).status).toBe(500);
    expect(errors.map((e) => (e as Error).message)).toEqual([message]);
    expect((await send({ 'x-tokens': '5', 'x-cost': '7' })).status).toBe(200);
    await t.ctx.usage.flush();
    // The request whose handler threw counts as failed, with nothing reported by the refused call
    // (a first call that was taken still counts).
    const taken = headers['x-again'] === undefined ? 0 : Number(headers['x-tokens']);
    expect((await t.ctx.keys.findById(keyId))?.usage).toMatchObject({ requestsOk: 1, requestsFailed: 1, tokens: 5 + taken, spendMicroCents: 7 });
  });

  it.each([
    ['NaN', 'NaN'],
    ['1e300', '1e+300'],
  ])('refuses a request whose maxCost is not a safe number (%s: 503, told to onError, nothing counted), and keeps writing usage', async (given, shown) => {
    const { keyId, errors, send } = await world();
    const refused = await send({ 'x-max-cost': given });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('limits_unavailable');
    expect(errors.map((e) => (e as Error).message)).toEqual([`apiKeyAuth: the maxCost option must return ${range} or undefined (got ${shown}).`]);
    expect((await send({ 'x-tokens': '5', 'x-cost': '7' })).status).toBe(200);
    await t.ctx.usage.flush();
    expect((await t.ctx.keys.findById(keyId))?.usage).toMatchObject({ requestsOk: 1, requestsFailed: 0, tokens: 5, spendMicroCents: 7 });
  });
});
