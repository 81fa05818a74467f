// A service in a process of its own, guarded by @keyward/guard's remote guard (the built package,
// loaded as a consumer would). Settings come from the environment; it prints {"port"} once listening.
//   KEYWARD_URL, KEYWARD_FEED_URL (optional), KEYWARD_CREDENTIAL, CACHE_WINDOWS=1 (cacheWithinRateWindows)
'use strict';

const express = require('express');
const { createRemoteGuard } = require('@keyward/guard');

const errors = [];
const guard = createRemoteGuard({
  url: process.env.KEYWARD_URL,
  feedUrl: process.env.KEYWARD_FEED_URL || undefined,
  credential: process.env.KEYWARD_CREDENTIAL,
  scopes: ['api'],
  heartbeatMs: 1000,
  cacheWithinRateWindows: process.env.CACHE_WINDOWS === '1',
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
  maxCost: (req) => Number(req.get('x-max-cost')) || undefined,
  onError: (error) => errors.push(String(error && error.message)),
});

const app = express();
app.get('/status', (_req, res) => res.json({ ...guard.stats(), errors: errors.slice(-5) }));
app.get('/guarded', guard, (req, res) => {
  const cost = Number(req.get('x-report-cost'));
  if (cost) req.apiKey.reportUsage({ costMicroCents: cost });
  res.json({ id: req.apiKey.id, name: req.apiKey.name, tenantId: req.apiKey.tenantId, scopes: req.apiKey.scopes, reserved: req.apiKey.reservedMicroCents });
});

const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => {
  guard.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
