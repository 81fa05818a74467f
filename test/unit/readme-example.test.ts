import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { KeyHasher } from '../../packages/guard/src/keys/key-hasher';
import { createReportsApp } from '../examples/guard-another-app';
import { buildKeyRecord as record } from '../helpers/key-record';

const EXAMPLE = path.join(__dirname, '..', 'examples', 'guard-another-app.ts');
const README = path.join(__dirname, '..', '..', 'README.md');

describe('README: guarding another Express app', () => {
  it('shows exactly the example this test runs', () => {
    const code = fs.readFileSync(EXAMPLE, 'utf8').replace(/^\/\/ README example.*\n/, '').trim();
    expect(fs.readFileSync(README, 'utf8')).toContain(code);
  });

  it('lets a key with the scopes through and refuses the others', async () => {
    const secret = 'example-secret-0123456789abcdefghijklmnop';
    const hasher = new KeyHasher({ 1: secret });
    const good = generateKey('kw').key;
    const narrow = generateKey('kw').key;
    const store = new Map([
      [good.split('_')[1], record({ key: good }, hasher)],
      [narrow.split('_')[1], record({ key: narrow, scopes: ['api'] }, hasher)],
    ]);
    const app = createReportsApp({ findKey: async (id) => store.get(id) ?? null, keyHashSecret: secret });

    const ok = await request(app).get('/v1/reports').set('Authorization', `Bearer ${good}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ key: good.split('_')[1], tenant: 'acme' });
    expect(ok.headers['ratelimit-policy']).toMatch(/^"minute";q=10;w=60/);

    const lacking = await request(app).get('/v1/reports').set('Authorization', `Bearer ${narrow}`);
    expect(lacking.status).toBe(403);
    expect(lacking.body.error.code).toBe('insufficient_scope');
    expect((await request(app).get('/v1/reports')).body.error.code).toBe('missing_api_key');
    expect((await request(app).get('/v1/reports').set('X-API-Key', generateKey('kw').key)).body.error.code).toBe('invalid_api_key');
  });

  it('checks its options when created, saying how to fix them', async () => {
    const { apiKeyAuth } = await import('keyward');
    expect(() => apiKeyAuth({} as never)).toThrow(/apiKeyAuth: `keys` must be a KeyStore with findKey\(id\)/);
    expect(() => apiKeyAuth({ keys: { findKey: async () => null }, hasher: {} as never })).toThrow(/`hasher` must be a KeyHasher/);
    expect(() =>
      apiKeyAuth({ keys: { findKey: async () => null }, hasher: new KeyHasher({ 1: 'x'.repeat(32) }), scopes: 'api' as never }),
    ).toThrow(/`scopes` must be an array/);
    expect(apiKeyAuth({ keys: { findKey: async () => null }, hasher: new KeyHasher({ 1: 'x'.repeat(32) }) }).name).toBe('apiKeyAuthMiddleware');
  });
});
