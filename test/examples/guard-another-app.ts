// README example: guarding your own Express app with Keyward keys (test/unit/readme-example.test.ts runs it).
import express from 'express';
import { apiKeyAuth, type ApiKeyRecord, cachedKeyStore, createMemoryLimits, KeyHasher, requireScope } from '@keyward/guard';

export function createReportsApp(options: { findKey: (id: string) => Promise<ApiKeyRecord | null>; keyHashSecret: string }) {
  const keys = cachedKeyStore({ findKey: options.findKey }); // your lookup by public id, cached
  const guard = apiKeyAuth({
    keys,
    hasher: new KeyHasher({ 1: options.keyHashSecret }), // the KEY_HASH_SECRET the keys were issued with
    limits: createMemoryLimits(), // rate windows, quota and budget counters (Redis for several instances)
    scopes: ['api'], // every route below needs scope "api"
  });

  const app = express();
  app.use(express.json());
  app.use('/v1', guard);
  app.get('/v1/reports', requireScope('reports:read'), (req, res) => {
    res.json({ key: req.apiKey?.id, tenant: req.apiKey?.tenantId });
  });
  return app;
}
