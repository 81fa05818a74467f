/**
 * Scope containment: whoever acts on a key (an API key through the management API, a member or
 * admin in the dashboard) may change it only while holding every scope the key holds. A keys:write
 * key gets 403 insufficient_scope for every action on an admin key, and the admin key is unchanged:
 * no new secret, no lost allowlist, no audit event.
 */
import request from 'supertest';
import { testActor } from '../helpers/context';
import { createWorld, post, signedIn, snapshot, type World } from '../dashboard/dashboard-helpers';

let w: World;
beforeAll(async () => {
  w = await createWorld();
});
afterAll(async () => w.close());

const ACTIONS: { name: string; method: 'post' | 'patch' | 'put' | 'delete'; path: (id: string) => string; body?: object }[] = [
  { name: 'update (PATCH)', method: 'patch', path: (id) => `/api/v1/keys/${id}`, body: { allowedIps: [] } },
  { name: 'update (PUT)', method: 'put', path: (id) => `/api/v1/keys/${id}`, body: { name: 'taken over' } },
  { name: 'regenerate', method: 'post', path: (id) => `/api/v1/keys/${id}/regenerate` },
  { name: 'rotate', method: 'post', path: (id) => `/api/v1/keys/${id}/rotate`, body: { gracePeriodSeconds: 604_800 } },
  { name: 'revoke', method: 'post', path: (id) => `/api/v1/keys/${id}/revoke` },
  { name: 'deactivate', method: 'post', path: (id) => `/api/v1/keys/${id}/deactivate` },
  { name: 'activate', method: 'post', path: (id) => `/api/v1/keys/${id}/activate` },
  { name: 'reset-usage', method: 'post', path: (id) => `/api/v1/keys/${id}/reset-usage` },
  { name: 'delete', method: 'delete', path: (id) => `/api/v1/keys/${id}` },
];

describe('through the management API', () => {
  it.each(ACTIONS)('a keys:write key gets 403 insufficient_scope for $name on an admin key, which stays unchanged', async (action) => {
    const writer = await w.ctx.keys.create(w.tenant.id, { name: 'writer', scopes: ['keys:write', 'keys:read'], tier: 'enterprise' }, testActor);
    const target = await w.ctx.keys.create(w.tenant.id, { name: 'the admin key', scopes: ['admin'], allowedIps: ['10.0.0.0/8'] }, testActor);
    const before = await snapshot(w);
    let req = request(w.app)[action.method](action.path(target.apiKey.id)).set('Authorization', `Bearer ${writer.key}`);
    if (action.body) req = req.send(action.body);
    const res = await req;
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('insufficient_scope');
    expect(res.body.error.message).toContain('admin');
    expect(JSON.stringify(res.body)).not.toMatch(/kw_[0-9A-Za-z]{12}_/);
    expect(await snapshot(w)).toBe(before);
  });

  it('a key with every scope of the target may act on it; a key may act on itself', async () => {
    const writer = await w.ctx.keys.create(w.tenant.id, { name: 'writer', scopes: ['keys:write', 'api'], tier: 'enterprise' }, testActor);
    const target = await w.ctx.keys.create(w.tenant.id, { name: 'plain', scopes: ['api'] }, testActor);
    const rotated = await request(w.app).post(`/api/v1/keys/${target.apiKey.id}/rotate`).set('Authorization', `Bearer ${writer.key}`).send({ gracePeriodSeconds: 0 });
    expect(rotated.status).toBe(200);
    const self = await request(w.app).post(`/api/v1/keys/${writer.apiKey.id}/rotate`).set('Authorization', `Bearer ${writer.key}`).send({ gracePeriodSeconds: 60 });
    expect(self.status).toBe(200);
  });

  it('a key holding only part of the target\'s scopes is refused (every scope is needed)', async () => {
    const writer = await w.ctx.keys.create(w.tenant.id, { name: 'writer', scopes: ['keys:write', 'api'], tier: 'enterprise' }, testActor);
    const target = await w.ctx.keys.create(w.tenant.id, { name: 'reporting', scopes: ['api', 'reports:read'] }, testActor);
    const res = await request(w.app).post(`/api/v1/keys/${target.apiKey.id}/revoke`).set('Authorization', `Bearer ${writer.key}`);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('reports:read');
    expect((await w.ctx.keys.get(w.tenant.id, target.apiKey.id)).status).toBe('active');
  });
});

describe('in the dashboard', () => {
  const DASHBOARD_ACTIONS = ['revoke', 'deactivate', 'regenerate', 'rotate', 'reset-usage', 'delete'];

  it.each(DASHBOARD_ACTIONS)('a member gets 403 for %s on their own key when it holds a management scope', async (action) => {
    // A tenant admin gave the member's key a scope members may not hold.
    const key = await w.ctx.keys.create(w.tenant.id, { name: `elevated ${action}`, scopes: ['api', 'keys:read'], ownerId: w.member.id }, testActor);
    const agent = await signedIn(w.app, w.member.email);
    const before = await snapshot(w);
    const res = await post(agent, `/keys/${key.apiKey.id}/${action}`, { grace: 0 }, `/keys/${key.apiKey.id}/${action}`);
    expect(res.status).toBe(403);
    expect(res.text).toContain('keys:read');
    expect(await snapshot(w)).toBe(before);
  });

  it('a member gets 403 editing such a key; an owner may act on it', async () => {
    const key = await w.ctx.keys.create(w.tenant.id, { name: 'elevated edit', scopes: ['admin'], ownerId: w.member.id }, testActor);
    const member = await signedIn(w.app, w.member.email);
    const before = await snapshot(w);
    const edit = await post(member, `/keys/${key.apiKey.id}/edit`, { name: 'mine now', scopes: ['api'], tier: 'free' }, `/keys/${key.apiKey.id}/edit`);
    expect(edit.status).toBe(403);
    expect(await snapshot(w)).toBe(before);

    const owner = await signedIn(w.app, w.owner.email);
    const revoke = await post(owner, `/keys/${key.apiKey.id}/revoke`, {}, `/keys/${key.apiKey.id}/revoke`);
    expect(revoke.status).toBe(302);
    expect((await w.ctx.keys.get(w.tenant.id, key.apiKey.id)).status).toBe('revoked');
  });
});
