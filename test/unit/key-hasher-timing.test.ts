/**
 * An unknown key id and a wrong secret for a real id take the same work (one HMAC each), so
 * response times do not tell an attacker which ids exist.
 */
import express from 'express';
import request from 'supertest';
import { apiKeyAuth, cachedKeyStore, generateKey, KeyHasher } from '../../src';
import { buildKeyRecord } from '../helpers/key-record';

function countingHasher() {
  const hasher = new KeyHasher({ 1: 'x'.repeat(40) });
  let hmacs = 0;
  const original = hasher.matches.bind(hasher);
  hasher.matches = (key, hash, version) => {
    hmacs += 1;
    return original(key, hash, version);
  };
  return { hasher, hmacs: () => hmacs };
}

test('unknown id and wrong secret: one HMAC each, cached or not', async () => {
  const { hasher, hmacs } = countingHasher();
  const real = generateKey('kw');
  const record = buildKeyRecord({ key: real.key }, hasher);
  const keys = cachedKeyStore({ findKey: async (id) => (id === real.id ? record : null) });
  const app = express();
  app.use(apiKeyAuth({ keys, hasher }));
  app.get('/', (_req, res) => res.send('ok'));

  const wrongSecret = generateKey('kw', real.id).key;
  const unknown = generateKey('kw').key;
  for (const round of ['uncached', 'cached']) {
    const before = hmacs();
    expect((await request(app).get('/').set('Authorization', `Bearer ${wrongSecret}`)).status).toBe(401);
    const forWrongSecret = hmacs() - before;
    expect((await request(app).get('/').set('Authorization', `Bearer ${unknown}`)).status).toBe(401);
    const forUnknown = hmacs() - before - forWrongSecret;
    expect({ round, forUnknown }).toEqual({ round, forUnknown: forWrongSecret });
    expect(forWrongSecret).toBe(1);
  }
});
