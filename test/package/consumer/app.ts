// A consumer's TypeScript app: type-checked against the installed tarball's declarations.
import express from 'express';
import { type ApiKeyRecord, apiKeyAuth, cachedKeyStore, createMemoryLimits, KeyHasher, requireScope } from '@keyward/guard';
import type { RedisLimitsOptions } from '@keyward/guard/redis';

/** The Redis entry point's types resolve too (ioredis is the consumer's to install when used). */
export type FailureMode = RedisLimitsOptions['failureMode'];

export function createApp(findKey: (id: string) => Promise<ApiKeyRecord | null>) {
  const app = express();
  app.use('/v1', apiKeyAuth({ keys: cachedKeyStore({ findKey }), hasher: new KeyHasher({ 1: 'secret' }), limits: createMemoryLimits() }));
  app.get('/v1/reports', requireScope('reports:read'), (req, res) => {
    const tenant: string | undefined = req.apiKey?.tenantId; // typed through declaration merging
    res.json({ tenant, scopes: req.apiKey?.scopes.join(' ') });
  });
  return app;
}
