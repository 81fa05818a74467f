// A consumer's ES module app guarded by the installed @keyward/guard tarball (test/package).
import express from 'express';
import { apiKeyAuth, cachedKeyStore, createMemoryLimits, generateKey, KeyHasher, keyRecord, requireScope } from '@keyward/guard';
import checks from './check.cjs';

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

const result = await checks.check(app, { good, narrow });
process.stdout.write(JSON.stringify({ format: 'esm', ...result }));
process.exit(0);
