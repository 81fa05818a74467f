/**
 * GET /api/v1/keys/changes: the key change feed as server-sent events. Authenticated like the
 * verify API (keys:verify), it streams changes of the caller's tenant's keys only, with heartbeats,
 * resumes from Last-Event-ID where it can (else `event: reset`), and lets go of its subscription
 * when the client leaves.
 */
import express from 'express';
import request from 'supertest';
import { type KeyChange, type KeyEventBus, LocalKeyEventBus } from '../../packages/guard/src/keys/key-events';
import { keyFeedRouter } from '../../src/routes/management/key-feed';
import { createTestApp, type TestApp } from '../helpers/app';
import { buildKeyInput, buildTenant, testActor } from '../helpers/context';
import { listen } from '../helpers/listen';
import { SpecValidator } from '../helpers/openapi';
import { openSse, type SseConnection, waitFor } from '../helpers/sse-client';

describe('GET /api/v1/keys/changes', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof listen>>;
  let spec: SpecValidator;
  let follower: string;
  const open: SseConnection[] = [];

  const feed = async (query = '', headers: Record<string, string> = {}, key = follower) => {
    const connection = await openSse(`${server.url}/api/v1/keys/changes${query}`, { authorization: `Bearer ${key}`, ...headers });
    open.push(connection);
    return connection;
  };

  beforeAll(async () => {
    t = await createTestApp('sqlite');
    server = await listen(t.app);
    spec = new SpecValidator((await request(t.app).get('/api/openapi.json')).body);
    follower = (await t.issue({ name: 'gateway', scopes: ['keys:verify'] })).key;
  });
  afterEach(() => {
    for (const connection of open.splice(0)) connection.close();
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('needs a key (401) holding keys:verify (403)', async () => {
    const none = await request(t.app).get('/api/v1/keys/changes');
    expect(none.status).toBe(401);
    spec.check(none, 'get', '/api/v1/keys/changes');
    const reader = (await t.issue({ scopes: ['keys:read'] })).key;
    const wrong = await request(t.app).get('/api/v1/keys/changes').set('authorization', `Bearer ${reader}`);
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('insufficient_scope');
    spec.check(wrong, 'get', '/api/v1/keys/changes');
    const bad = await request(t.app).get('/api/v1/keys/changes?heartbeat=0').set('authorization', `Bearer ${follower}`);
    expect(bad.status).toBe(400);
    spec.check(bad, 'get', '/api/v1/keys/changes');
  });

  it('streams unbuffered, uncached events: retry, ready, then each change of the tenant\'s keys', async () => {
    const stream = await feed();
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['cache-control']).toBe('no-store, no-transform');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    expect(stream.headers['content-encoding']).toBeUndefined();
    const ready = await stream.next((e) => e.event === 'ready');
    expect(JSON.parse(ready.data)).toEqual({ heartbeatMs: 15000 });
    expect(stream.raw()).toMatch(/^retry: 2000\n/);

    const { apiKey } = await t.issue({ name: 'to revoke' });
    await t.ctx.keys.revoke(t.tenant.id, apiKey.id, testActor);
    const revoked = await stream.next((e) => e.event === 'key' && JSON.parse(e.data).kind === 'revoked');
    expect(JSON.parse(revoked.data)).toEqual({ keyId: apiKey.id, kind: 'revoked' });
    expect(revoked.id).toMatch(/^[A-Za-z0-9_-]+\.\d+$/);
  });

  it('never shows another tenant\'s changes', async () => {
    const stream = await feed();
    await stream.next((e) => e.event === 'ready');
    const other = await buildTenant(t.ctx);
    const foreign = await t.ctx.keys.create(other.id, buildKeyInput({ name: 'foreign' }), testActor);
    await t.ctx.keys.revoke(other.id, foreign.apiKey.id, testActor);
    const otherStream = await feed('', {}, (await t.ctx.keys.create(other.id, buildKeyInput({ scopes: ['keys:verify'] }), testActor)).key);
    await otherStream.next((e) => e.event === 'ready');
    // A change in our tenant after the foreign ones: once it arrived, the foreign ones would have too.
    const ours = await t.issue({ name: 'ours' });
    await t.ctx.keys.revoke(t.tenant.id, ours.apiKey.id, testActor);
    await stream.next((e) => e.event === 'key' && e.data.includes(ours.apiKey.id));
    const foreignKey = await t.ctx.keys.create(other.id, buildKeyInput({ name: 'foreign 2' }), testActor);
    await t.ctx.keys.revoke(other.id, foreignKey.apiKey.id, testActor);
    await otherStream.next((e) => e.event === 'key' && e.data.includes(foreignKey.apiKey.id));
    expect(stream.raw()).not.toContain(foreign.apiKey.id);
    expect(stream.raw()).not.toContain(foreignKey.apiKey.id);
    expect(otherStream.raw()).not.toContain(ours.apiKey.id);
  });

  it('sends heartbeat comments at the interval asked for', async () => {
    const stream = await feed('?heartbeat=1');
    const ready = await stream.next((e) => e.event === 'ready');
    expect(JSON.parse(ready.data)).toEqual({ heartbeatMs: 1000 });
    const start = Date.now();
    await stream.until(/: heartbeat\n\n[\s\S]*: heartbeat\n\n/, 5000);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1500);
  });

  it('resumes from Last-Event-ID with the changes missed meanwhile, and answers an unknown cursor with a reset', async () => {
    // A second follower keeps this instance following the bus while the first one is away.
    const keeper = await feed();
    await keeper.next((e) => e.event === 'ready');
    const first = await feed();
    const ready = await first.next((e) => e.event === 'ready');
    first.close();
    const missed = await t.issue({ name: 'changed while away' });
    await t.ctx.keys.deactivate(t.tenant.id, missed.apiKey.id, testActor);
    await t.ctx.keys.revoke(t.tenant.id, missed.apiKey.id, testActor);
    await keeper.next((e) => e.event === 'key' && e.data.includes('"revoked"') && e.data.includes(missed.apiKey.id));

    const resumed = await feed('', { 'last-event-id': ready.id });
    await resumed.next((e) => e.event === 'ready');
    expect(resumed.events.some((e) => e.event === 'reset')).toBe(false);
    const replayed = resumed.events.filter((e) => e.event === 'key').map((e) => JSON.parse(e.data));
    expect(replayed).toContainEqual({ keyId: missed.apiKey.id, kind: 'revoked' });

    for (const cursor of ['someone-else.3', 'garbage', `${ready.id.split('.')[0]}.999999`]) {
      const reset = await feed('', { 'last-event-id': cursor });
      await reset.next((e) => e.event === 'ready');
      expect(reset.events.map((e) => e.event)).toEqual(['reset', 'ready']);
    }
  });

  it('lets go of its subscription when the client leaves, and of the bus when the last one has', async () => {
    const bus = new LocalKeyEventBus();
    let subscribers = 0;
    const counting: KeyEventBus = {
      publish: (change: KeyChange) => bus.publish(change),
      subscribe: (listener) => {
        subscribers++;
        const off = bus.subscribe(listener);
        return () => {
          subscribers--;
          off();
        };
      },
    };
    const app = express();
    app.use('/api/v1/keys/changes', keyFeedRouter(counting, (req, _res, next) => {
      (req as { apiKey?: unknown }).apiKey = { tenantId: 'tenant-a' };
      next();
    }));
    const own = await listen(app);
    try {
      const a = await openSse(`${own.url}/api/v1/keys/changes`);
      const b = await openSse(`${own.url}/api/v1/keys/changes`);
      await a.next((e) => e.event === 'ready');
      await b.next((e) => e.event === 'ready');
      expect(subscribers).toBe(1);
      bus.publish({ keyId: 'k1', tenantId: 'tenant-a', kind: 'revoked' });
      bus.publish({ keyId: 'k2', tenantId: 'tenant-b', kind: 'revoked' });
      await b.next((e) => e.event === 'key');
      a.close();
      b.close();
      await waitFor(() => subscribers === 0, 'the feed to unsubscribe');
      expect(b.raw()).not.toContain('k2');
    } finally {
      await own.close();
    }
  });

  it('ends its streams when the server stops listening, so a graceful stop is not held up', async () => {
    const own = await listen(t.app);
    const stream = await openSse(`${own.url}/api/v1/keys/changes`, { authorization: `Bearer ${follower}` });
    await stream.next((e) => e.event === 'ready');
    const start = Date.now();
    await new Promise<void>((resolve) => own.server.close(() => resolve()));
    expect(Date.now() - start).toBeLessThan(2000);
    await stream.until(/$/);
  });
});
