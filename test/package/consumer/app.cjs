// A consumer's CommonJS app guarded by the installed @keyward/guard tarball (test/package).
const express = require('express');
const { apiKeyAuth, cachedKeyStore, createMemoryLimits, generateKey, KeyHasher, keyRecord, requireScope } = require('@keyward/guard');
const { check } = require('./check.cjs');

const hasher = new KeyHasher({ 1: 'consumer-secret-0123456789abcdefghijklmnop' });
const good = generateKey('kw').key;
const narrow = generateKey('kw').key;
const records = new Map([
  [good.split('_')[1], keyRecord({ key: good, tenantId: 'shop', scopes: ['reports:read'], rateLimits: { perMinute: 2, perHour: null, perDay: null, perMonth: null } }, hasher)],
  [narrow.split('_')[1], keyRecord({ key: narrow, tenantId: 'shop' }, hasher)],
]);

const app = express();
app.use('/v1', apiKeyAuth({ keys: cachedKeyStore({ findKey: async (id) => records.get(id) ?? null }), hasher, limits: createMemoryLimits() }));
app.get('/v1/reports', requireScope('reports:read'), (req, res) => res.json({ key: req.apiKey.id, tenant: req.apiKey.tenantId }));

check(app, { good, narrow }).then((result) => {
  process.stdout.write(JSON.stringify({ format: 'cjs', ...result }));
  process.exit(0);
});
