// A consumer's TypeScript app: type-checked against the installed tarball's declarations.
import express from 'express';
import { Redis } from 'ioredis';
import { type ApiKeyRecord, apiKeyAuth, cachedKeyStore, createMemoryLimits, KeyHasher, requireScope } from '@keyward/guard';
import { createRedisLimits } from '@keyward/guard/redis';

/** One instance, or several sharing Redis (ioredis is the consumer's to install when used). */
export function createApp(findKey: (id: string) => Promise<ApiKeyRecord | null>, redisUrl?: string) {
  const limits = redisUrl ? createRedisLimits({ client: new Redis(redisUrl, { commandTimeout: 250 }) }) : createMemoryLimits();
  const app = express();
  app.use('/v1', apiKeyAuth({ keys: cachedKeyStore({ findKey }), hasher: new KeyHasher({ 1: 'secret' }), limits }));
  app.get('/v1/reports', requireScope('reports:read'), (req, res) => {
    const tenant: string | undefined = req.apiKey?.tenantId; // typed through declaration merging
    res.json({ tenant, scopes: req.apiKey?.scopes.join(' ') });
  });
  return app;
}
