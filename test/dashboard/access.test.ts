/**
 * Roles, checked per record, and the IDOR sweep: every dashboard route, called with ids of
 * another tenant and of another member (and ids the person may not use at all), answers 404 with
 * exactly the page a missing record gets, and changes nothing.
 */
import type { Response } from 'supertest';
import { buildUser } from '../helpers/context';
import { type Agent, createWorld, fieldError, form, post, signedIn, snapshot, type World } from './dashboard-helpers';
import { fill, ROUTES, type RouteSpec } from './routes';

const MISSING = { key: 'ZZZZZZZZZZZZ', user: 'ZZZZZZZZZZZZZZZZ', tenant: 'ZZZZZZZZZZZZZZZZ', webhook: 'ZZZZZZZZZZZZZZZZZZZZ' };

/** Calls a route as `agent` (POSTs with the session's CSRF token). */
async function call(agent: Agent, route: RouteSpec, path: string, csrf: string): Promise<Response> {
  if (route.method === 'GET') return agent.get(path);
  return agent.post(path).type('form').send({ ...(route.body ?? {}), _csrf: csrf });
}

/** Paths of a route for ids the person may not use, and for ids that exist nowhere. */
function targets(route: RouteSpec, w: World, viewer: 'member' | 'owner' | 'admin'): { forbidden: string[]; missing: string } | null {
  switch (route.ids) {
    case 'key': {
      const forbidden = [fill(route.path, { id: w.keys.otherTenant.id })];
      if (viewer === 'member') forbidden.push(fill(route.path, { id: w.keys.otherMember.id }));
      return { forbidden, missing: fill(route.path, { id: MISSING.key }) };
    }
    case 'member': {
      // Someone who is not a member of this tenant; for members, even their colleagues.
      const forbidden = [fill(route.path, { userId: w.outsider.id })];
      if (viewer === 'member') forbidden.push(fill(route.path, { userId: w.otherMember.id }));
      return { forbidden, missing: fill(route.path, { userId: MISSING.user }) };
    }
    case 'user':
      return viewer === 'admin' ? null : { forbidden: [fill(route.path, { id: w.member.id })], missing: fill(route.path, { id: MISSING.user }) };
    case 'tenant':
      return viewer === 'admin' ? null : { forbidden: [fill(route.path, { id: w.tenant.id }), fill(route.path, { id: w.other.id })], missing: fill(route.path, { id: MISSING.tenant }) };
    case 'membership':
      return viewer === 'admin'
        ? null
        : { forbidden: [fill(route.path, { id: w.owner.id, tenantId: w.tenant.id })], missing: fill(route.path, { id: MISSING.user, tenantId: MISSING.tenant }) };
    case 'webhook': {
      // Another tenant's webhook; for members (who do not manage the tenant), their own tenant's too.
      const forbidden = [fill(route.path, { id: w.webhooks.otherTenant.id })];
      if (viewer === 'member') forbidden.push(fill(route.path, { id: w.webhooks.tenant.id }));
      return { forbidden, missing: fill(route.path, { id: MISSING.webhook }) };
    }
    default:
      return null;
  }
}

describe.each(['member', 'owner', 'admin'] as const)('IDOR sweep as %s', (viewer) => {
  let w: World;
  let agent: Agent;
  let csrf: string;

  beforeAll(async () => {
    w = await createWorld();
    const email = { member: w.member.email, owner: w.owner.email, admin: w.admin.email }[viewer];
    agent = await signedIn(w.app, email);
    csrf = (await form(agent, '/account')).csrf;
  });
  afterAll(() => w.close());

  const sweep = ROUTES.filter((r) => r.ids);
  test.each(sweep.map((r) => [`${r.method} ${r.path}`, r] as const))('%s: other records answer like missing ones', async (_name, route) => {
    const paths = targets(route, w, viewer);
    if (!paths) {
      // Platform admins may use every user and tenant route: covered by the admin suites.
      expect(viewer).toBe('admin');
      return;
    }
    const before = await snapshot(w);
    const missing = await call(agent, route, paths.missing, csrf);
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('Page not found');
    for (const path of paths.forbidden) {
      const res = await call(agent, route, path, csrf);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.text).toBe(missing.text);
    }
    expect(await snapshot(w)).toBe(before);
  });

  test('pages beyond the role answer 404 like a missing page, and change nothing', async () => {
    const denied = ROUTES.filter(
      (r) => !r.ids && ((r.access === 'manager' && viewer === 'member') || (r.access === 'platform' && viewer !== 'admin')),
    );
    if (viewer === 'admin') {
      expect(denied).toEqual([]);
      return;
    }
    expect(denied.length).toBeGreaterThan(0);
    const before = await snapshot(w);
    const missing = await agent.get('/no-such-page').expect(404);
    for (const route of denied) {
      const res = await call(agent, route, route.path, csrf);
      expect({ route: `${route.method} ${route.path}`, status: res.status }).toEqual({ route: `${route.method} ${route.path}`, status: 404 });
      expect(res.text).toBe(missing.text);
    }
    expect(await snapshot(w)).toBe(before);
  });
});

describe('roles', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('members see and manage only their own keys', async () => {
    const agent = await signedIn(w.app, w.member.email);
    const list = await agent.get('/keys').expect(200);
    expect(list.text).toContain(w.keys.member.name);
    expect(list.text).not.toContain(w.keys.otherMember.name);
    // An owner filter in the query does not widen the list.
    const filtered = await agent.get(`/keys?owner=${w.otherMember.id}`).expect(200);
    expect(filtered.text).not.toContain(w.keys.otherMember.name);
    await agent.get(`/keys/${w.keys.member.id}`).expect(200);
    await agent.get(`/keys/${w.keys.otherMember.id}`).expect(404);
    // No Members, Tenants or Users in the navigation.
    expect(list.text).not.toContain('href="/members"');
    expect(list.text).not.toContain('href="/users"');
  });

  test('a key a member creates is theirs, whatever owner the form names', async () => {
    const agent = await signedIn(w.app, w.member.email);
    const res = await post(agent, '/keys', { name: 'mine for sure', ownerId: w.owner.id }, '/keys/new');
    expect(res.status).toBe(302);
    const key = await w.ctx.database.prisma.apiKey.findFirst({ where: { name: 'mine for sure' } });
    expect(key?.ownerId).toBe(w.member.id);
  });

  test('members cannot give their keys scopes that manage other keys', async () => {
    const fresh = await buildUser(w.ctx, w.tenant, { role: 'member' });
    const agent = await signedIn(w.app, fresh.email);
    for (const scopes of ['api, keys:read', 'admin', 'keys:write']) {
      const res = await post(agent, '/keys', { name: `escalate ${scopes}`, scopes }, '/keys/new');
      expect(res.status).toBe(400);
      expect(fieldError(res.text, 'scopes')).toMatch(/^Only owners and admins of the tenant can grant/);
    }
    expect(await w.ctx.database.prisma.apiKey.count({ where: { name: { startsWith: 'escalate' } } })).toBe(0);
    const owner = await signedIn(w.app, w.owner.email);
    expect((await post(owner, '/keys', { name: 'manager key', scopes: 'api, keys:read', ownerId: fresh.id }, '/keys/new')).status).toBe(302);
    // The member holds no management scope, so may not change a key that holds one (issue 9:
    // acting on a key needs every scope it holds), not even to keep what the owner granted.
    const key = await w.ctx.database.prisma.apiKey.findFirstOrThrow({ where: { name: 'manager key' } });
    const keep = await post(agent, `/keys/${key.id}/edit`, { name: 'manager key 2', scopes: 'api, keys:read', expiry: 'keep' }, `/keys/${key.id}/edit`);
    expect(keep.status).toBe(400);
    const revoke = await post(agent, `/keys/${key.id}/revoke`, {}, `/keys/${key.id}/revoke`);
    expect(revoke.status).toBe(403);
    const current = await w.ctx.keys.get(w.tenant.id, key.id);
    expect({ name: current.name, scopes: current.scopes, status: current.status }).toEqual({ name: 'manager key', scopes: ['api', 'keys:read'], status: 'active' });
  });

  test('owners and admins see every key of the tenant and no other tenant', async () => {
    const admin = await buildUser(w.ctx, w.tenant, { role: 'admin' });
    const agent = await signedIn(w.app, admin.email);
    const list = await agent.get('/keys').expect(200);
    expect(list.text).toContain(w.keys.member.name);
    expect(list.text).toContain(w.keys.otherMember.name);
    expect(list.text).not.toContain(w.keys.otherTenant.name);
    await agent.get(`/keys/${w.keys.otherMember.id}`).expect(200);
    await agent.get('/members').expect(200);
    await agent.get('/tenants').expect(404);
  });

  test('a tenant admin cannot grant or touch the owner role; an owner can; the last owner stays', async () => {
    const admin = await buildUser(w.ctx, w.tenant, { role: 'admin' });
    const adminAgent = await signedIn(w.app, admin.email);
    expect((await post(adminAgent, `/members/${w.member.id}/role`, { role: 'owner' }, '/members')).status).toBe(403);
    expect((await post(adminAgent, `/members/${w.owner.id}/role`, { role: 'member' }, '/members')).status).toBe(403);
    expect((await post(adminAgent, `/members/${w.owner.id}/remove`, {}, '/members')).status).toBe(403);
    expect((await post(adminAgent, `/members/${w.member.id}/role`, { role: 'admin' }, '/members')).status).toBe(302);
    expect((await w.ctx.users.membershipOf(w.member.id, w.tenant.id))?.role).toBe('admin');

    // In a tenant with one owner, that owner cannot step down or leave.
    const solo = await signedIn(w.app, w.outsider.email);
    const res = await post(solo, `/members/${w.outsider.id}/role`, { role: 'admin' }, '/members');
    expect(res.status).toBe(403);
    expect(res.text).toContain('only owner');
    expect((await w.ctx.users.membershipOf(w.outsider.id, w.other.id))?.role).toBe('owner');
  });

  test('the tenant switcher offers only the tenants one belongs to (all of them for platform admins)', async () => {
    const member = await signedIn(w.app, w.member.email);
    expect((await post(member, '/tenant', { tenantId: w.other.id })).status).toBe(404);
    const both = await buildUser(w.ctx, w.tenant, { role: 'member' });
    await w.ctx.users.setMembership(both.id, w.other.id, 'admin', { type: 'system', id: null, label: 'test' });
    const agent = await signedIn(w.app, both.email);
    const page = await agent.get('/').expect(200);
    expect(page.text).toContain('id="tenant-switch"');
    expect((await post(agent, '/tenant', { tenantId: w.other.id })).status).toBe(302);
    const keys = await agent.get('/keys').expect(200);
    expect(keys.text).toContain(w.keys.otherTenant.name);
    expect(keys.text).not.toContain(w.keys.member.name);

    const admin = await signedIn(w.app, w.admin.email);
    await admin.get(`/keys/${w.keys.otherTenant.id}`).expect(404);
    expect((await post(admin, '/tenant', { tenantId: w.other.id })).status).toBe(302);
    await admin.get(`/keys/${w.keys.otherTenant.id}`).expect(200);
  });

  test('people in no tenant are told what to do next', async () => {
    const loner = await buildUser(w.ctx, null);
    const agent = await signedIn(w.app, loner.email);
    for (const path of ['/', '/keys', '/keys/new', '/audit']) {
      const res = await agent.get(path).expect(200);
      expect(res.text).toContain('You are not in a tenant yet');
      expect(res.text).toContain(loner.email);
    }
    await agent.get('/account').expect(200);
    await agent.get('/members').expect(200).expect((res) => expect(res.text).toContain('You are not in a tenant yet'));
  });

  test('members see their own actions in the audit log; managers see everyone\'s', async () => {
    const fresh = await buildUser(w.ctx, w.tenant, { role: 'member' });
    const member = await signedIn(w.app, fresh.email);
    expect((await post(member, '/keys', { name: 'fresh key' }, '/keys/new')).status).toBe(302);
    const owner = await signedIn(w.app, w.owner.email);
    expect((await post(owner, `/keys/${w.keys.otherMember.id}/deactivate`)).status).toBe(302);
    const mine = await member.get('/audit').expect(200);
    
    expect(mine.text).not.toContain(w.keys.otherMember.id);
    expect(mine.text).not.toContain('>key.deactivate</code>');
    expect(mine.text).toContain('>key.create</code>');
    const all = await owner.get('/audit').expect(200);
    expect(all.text).toContain(`/keys/${w.keys.otherMember.id}`);
  });
});
