/**
 * The remote guard (@keyward/guard's createRemoteGuard), run as a consumer would: the built
 * package in a service of its own process, verifying through a Keyward listening on a port.
 * - A key revoked in Keyward is refused by that service within 1 s while its answers are cached.
 * - With the change feed down nothing cached is used: a revocation is refused on the next request.
 * - Keys with limits are verified on every request and counted exactly; refusals carry the local
 *   guard's status, body and headers; reserved cost is settled to what the handler reported.
 * - A response still running after requestTimeoutMs is ended and its reservation settled in full.
 * - Keyward unreachable: 503 service_unavailable.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { createRemoteGuard } from '../../packages/guard/src/remote/remote-guard';
import { createTestApp, type TestApp } from '../helpers/app';
import { testActor } from '../helpers/context';
import { listen } from '../helpers/listen';
import { childEnv, freePort, ROOT } from '../helpers/processes';
import { waitFor } from '../helpers/sse-client';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

const APP = path.join(ROOT, 'test', 'helpers', 'remote-guard-app.js');

interface GuardProcess {
  url: string;
  status(): Promise<{ feed: string; verifyCalls: number; cacheHits: number; cached: number; errors: string[] }>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcessWithoutNullStreams>();

/** Starts the guarded service in a child process; resolves once it listens. */
function startGuardProcess(env: Record<string, string>): Promise<GuardProcess> {
  const child = spawn(process.execPath, [APP], { cwd: ROOT, env: childEnv(env) });
  children.add(child);
  let output = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => reject(new Error(`the guarded service exited (${code}): ${output}`)));
    child.stdout.on('data', (d) => {
      output += d;
      const match = /\{"port":(\d+)\}/.exec(output);
      if (!match) return;
      const url = `http://127.0.0.1:${match[1]}`;
      resolve({
        url,
        status: async () => (await (await fetch(`${url}/status`)).json()) as Awaited<ReturnType<GuardProcess['status']>>,
        stop: () =>
          new Promise<void>((done) => {
            children.delete(child);
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

async function call(service: GuardProcess, key: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${service.url}/guarded`, { headers: { authorization: `Bearer ${key}`, ...headers } });
  const body = (await res.json()) as { id?: string; reserved?: number; error?: { code: string; type: string; message: string } };
  return { status: res.status, body, headers: res.headers };
}

/** Records a measurement where the report can read it (REMOTE_LATENCY_LOG), without asserting on it. */
function note(line: string): void {
  if (process.env.REMOTE_LATENCY_LOG) appendFileSync(process.env.REMOTE_LATENCY_LOG, `${line}\n`);
}

describe('the remote guard in another process', () => {
  let t: TestApp;
  let keyward: Awaited<ReturnType<typeof listen>>;
  let credential: string;
  let reader: string;

  const outcomes = async (keyId: string): Promise<Record<string, number>> => {
    await t.ctx.usage.flush();
    return (await request(t.app).get(`/api/v1/keys/${keyId}/usage`).set('authorization', `Bearer ${reader}`)).body.outcomes;
  };

  beforeAll(async () => {
    t = await createTestApp('sqlite');
    keyward = await listen(t.app);
    credential = (await t.issue({ name: 'service', scopes: ['keys:verify'] })).key;
    reader = (await t.issue({ name: 'reader', scopes: ['keys:read'] })).key;
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await keyward.close();
    await t.close();
  });

  it('serves a key from its cache while the feed is live, and refuses it within 1 s of its revocation in Keyward', async () => {
    const service = await startGuardProcess({ KEYWARD_URL: keyward.url, KEYWARD_CREDENTIAL: credential, CACHE_WINDOWS: '1' });
    try {
      await waitFor(async () => (await service.status()).feed === 'connected', 'the feed to connect');
      const latencies: number[] = [];
      for (const name of ['first', 'second', 'third']) {
        const { key, apiKey } = await t.issue({ name });
        const before = await service.status();
        for (let i = 0; i < 5; i++) {
          const res = await call(service, key);
          expect({ status: res.status, id: res.body.id }).toEqual({ status: 200, id: apiKey.id });
        }
        // One verification, then the cache: Keyward saw (and counted) one request.
        const after = await service.status();
        expect(after.verifyCalls - before.verifyCalls).toBe(1);
        expect(after.cacheHits - before.cacheHits).toBe(4);
        expect(await outcomes(apiKey.id)).toMatchObject({ ok: 1 });

        // Revoked in Keyward once revoke() has written it (its own database write is not propagation).
        const askedAt = Date.now();
        await t.ctx.keys.revoke(t.tenant.id, apiKey.id, testActor);
        const revokedAt = Date.now();
        let res = await call(service, key);
        while (res.status === 200 && Date.now() - revokedAt < 3000) res = await call(service, key);
        const latency = Date.now() - revokedAt;
        latencies.push(latency);
        note(`refused ${latency} ms after the revocation was written (${Date.now() - askedAt} ms after it was asked for)`);
        expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: 'key_revoked' });
        expect(latency).toBeLessThanOrEqual(1000);
      }
      note(`revocation latency (ms): ${latencies.join(', ')}`);
    } finally {
      await service.stop();
    }
  });

  it('uses nothing cached while the feed is down: a revocation is refused on the next request', async () => {
    const proxy: TcpProxy = await startTcpProxy(Number(new URL(keyward.url).port));
    const service = await startGuardProcess({
      KEYWARD_URL: keyward.url,
      KEYWARD_FEED_URL: `http://127.0.0.1:${proxy.port}`,
      KEYWARD_CREDENTIAL: credential,
      CACHE_WINDOWS: '1',
    });
    try {
      await waitFor(async () => (await service.status()).feed === 'connected', 'the feed to connect');
      const { key, apiKey } = await t.issue({ name: 'behind a partition' });
      expect((await call(service, key)).status).toBe(200);
      expect((await call(service, key)).status).toBe(200);
      expect((await service.status()).cacheHits).toBeGreaterThanOrEqual(1);

      // A silent partition: no close, no error. Heartbeats stop; the guard notices and drops its cache.
      proxy.pause();
      await waitFor(async () => (await service.status()).feed === 'disconnected', 'the guard to notice the silent feed', 6000);
      expect((await service.status()).cached).toBe(0);
      const before = await service.status();
      expect((await call(service, key)).status).toBe(200);
      expect((await call(service, key)).status).toBe(200);
      expect((await service.status()).verifyCalls - before.verifyCalls).toBe(2);

      // Revoked while the feed cannot tell: the very next request is refused.
      await t.ctx.keys.revoke(t.tenant.id, apiKey.id, testActor);
      const refused = await call(service, key);
      expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 401, code: 'key_revoked' });

      // The feed comes back by itself.
      proxy.resume();
      await waitFor(async () => (await service.status()).feed === 'connected', 'the feed to reconnect', 6000);
    } finally {
      await service.stop();
      await proxy.close();
    }
  });

  it('verifies keys with limits on every request: counted exactly, refused as the local guard refuses, cost settled', async () => {
    const service = await startGuardProcess({ KEYWARD_URL: keyward.url, KEYWARD_CREDENTIAL: credential });
    try {
      await waitFor(async () => (await service.status()).feed === 'connected', 'the feed to connect');
      const limited = await t.issue({ name: 'three a minute', rateLimits: { perMinute: 3 } });
      const before = await service.status();
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await call(service, limited.key));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
      expect((await service.status()).verifyCalls - before.verifyCalls).toBe(5);
      expect(await outcomes(limited.apiKey.id)).toMatchObject({ ok: 3, rate_limited: 2 });
      const refused = answers[3];
      expect(refused.body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error', level: 'key' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(refused.headers.get('x-should-retry')).toBe('true');
      expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(answers[0].headers.get('x-ratelimit-limit-requests')).toBe('3');

      // A budget: the most the request may cost is reserved, then settled to what the handler reported.
      const budgeted = await t.issue({ name: 'ten cents', budget: { limitCents: 10, period: 'total' } });
      const spent = async () =>
        (await request(t.app).post('/api/v1/keys/verify').set('authorization', `Bearer ${credential}`).send({ key: budgeted.key, consume: false })).body.budget.spentCents;
      const paid = await call(service, budgeted.key, { 'x-max-cost': '4000000', 'x-report-cost': '3000000' });
      expect({ status: paid.status, reserved: paid.body.reserved }).toEqual({ status: 200, reserved: 4_000_000 });
      await waitFor(async () => (await spent()) === 3, 'the settlement to reach Keyward');
      const broke = await call(service, budgeted.key, { 'x-max-cost': '8000000' });
      expect({ status: broke.status, code: broke.body.error?.code, type: broke.body.error?.type }).toEqual({ status: 402, code: 'budget_exceeded', type: 'budget_error' });
      expect(broke.headers.get('x-should-retry')).toBe('false');
      expect(broke.headers.get('retry-after')).toBeNull();
      expect((await service.status()).errors).toEqual([]);
    } finally {
      await service.stop();
    }
  });
});

describe('the remote guard with a handler that never ends', () => {
  let t: TestApp;
  let keyward: Awaited<ReturnType<typeof listen>>;
  let credential: string;

  beforeAll(async () => {
    t = await createTestApp('sqlite');
    keyward = await listen(t.app);
    credential = (await t.issue({ name: 'service', scopes: ['keys:verify'] })).key;
  });
  afterAll(async () => {
    await keyward.close();
    await t.close();
  });

  it('ends a response still running after requestTimeoutMs and settles its reservation in full (nothing was reported)', async () => {
    const guard = createRemoteGuard({ url: keyward.url, credential, feed: false, requestTimeoutMs: 300, maxCost: (req) => Number(req.headers['x-max-cost']) });
    // Headers sent, then nothing: an upstream call that hangs.
    const service = await listen(express().get('/slow', guard, (_req, res) => res.status(200).write('{')));
    try {
      const budgeted = await t.issue({ name: 'ten cents', budget: { limitCents: 10, period: 'total' } });
      const started = Date.now();
      const ended = await new Promise<string>((resolve) => {
        const req = http.get(`${service.url}/slow`, { headers: { authorization: `Bearer ${budgeted.key}`, 'x-max-cost': '4000000' } }, (res) => {
          res.on('data', () => undefined);
          res.on('error', () => resolve('aborted'));
          res.on('end', () => resolve('ended'));
        });
        req.on('error', () => resolve('aborted'));
      });
      const ms = Date.now() - started;
      // The response was cut off (its end never came), after the timeout and within one sweep of it.
      expect(ended).toBe('aborted');
      expect(ms).toBeGreaterThanOrEqual(300);
      expect(ms).toBeLessThan(5000);
      const spent = async () =>
        (await request(t.app).post('/api/v1/keys/verify').set('authorization', `Bearer ${credential}`).send({ key: budgeted.key, consume: false })).body.budget.spentCents;
      await waitFor(async () => (await spent()) === 4, 'the whole reservation to be charged');
      expect(() => createRemoteGuard({ url: keyward.url, credential, requestTimeoutMs: 0 })).toThrow(/`requestTimeoutMs` must be a positive whole number/);
    } finally {
      guard.close();
      await service.close();
    }
  });
});

describe('createRemoteGuard', () => {
  it('checks its options when created, saying how to fix them', () => {
    expect(() => createRemoteGuard({ url: 'keys.example.com', credential: 'kw_x' })).toThrow(/createRemoteGuard: `url` must be an absolute URL/);
    expect(() => createRemoteGuard({ url: 'https://keys.example.com', credential: '' })).toThrow(/`credential` must be a Keyward key with scope keys:verify/);
    expect(() => createRemoteGuard({ url: 'https://keys.example.com', credential: 'kw_x', heartbeatMs: 1500 })).toThrow(/`heartbeatMs`/);
  });

  it('answers 503 service_unavailable (retryable) when Keyward cannot be reached, and 401 without asking it when no key is sent', async () => {
    const errors: unknown[] = [];
    const guard = createRemoteGuard({ url: `http://127.0.0.1:${await freePort()}`, credential: 'kw_test', feed: false, timeoutMs: 500, onError: (e) => errors.push(e) });
    const app = express().get('/x', guard, (_req, res) => res.json({ ok: true }));
    const down = await request(app).get('/x').set('authorization', 'Bearer kw_anything');
    expect(down.status).toBe(503);
    expect(down.body.error).toEqual({ code: 'service_unavailable', type: 'server_error', message: expect.any(String) });
    expect(down.headers['retry-after']).toBe('1');
    expect(down.headers['x-should-retry']).toBe('true');
    expect(errors).toHaveLength(1);
    const missing = await request(app).get('/x');
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('missing_api_key');
    expect(guard.stats()).toMatchObject({ verifyCalls: 1, feed: 'disconnected' });
    guard.close();
  });

  it('answers 503 when Keyward refuses the guard\'s own credential, and tells onError why', async () => {
    const t = await createTestApp('sqlite');
    const keyward = await listen(t.app);
    try {
      const service = await t.issue({ scopes: ['keys:verify'] });
      const { key } = await t.issue({ name: 'client' });
      await t.ctx.keys.revoke(t.tenant.id, service.apiKey.id, testActor);
      const errors: Error[] = [];
      const guard = createRemoteGuard({ url: keyward.url, credential: service.key, feed: false, onError: (e) => errors.push(e as Error) });
      const app = express().get('/x', guard, (_req, res) => res.json({ ok: true }));
      const res = await request(app).get('/x').set('authorization', `Bearer ${key}`);
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 503, code: 'service_unavailable' });
      expect(errors[0].message).toMatch(/401 key_revoked/);
      guard.close();
    } finally {
      await keyward.close();
      await t.close();
    }
  });
});
