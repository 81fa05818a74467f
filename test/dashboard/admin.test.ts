/**
 * Platform and tenant administration through the pages: tenants (create, rename), users (create
 * with a membership, assign and remove memberships), members (add, change role, remove with a
 * confirmation step), and the audit log's filters and pagination.
 */
import { createWorld, fieldError, fieldValue, post, signedIn, type Agent, type World } from './dashboard-helpers';

describe('tenants and users (platform admin)', () => {
  let w: World;
  let admin: Agent;
  beforeAll(async () => {
    w = await createWorld();
    admin = await signedIn(w.app, w.admin.email);
  });
  afterAll(() => w.close());

  test('creates a tenant, refuses a bad or taken slug beside the field, renames it', async () => {
    const bad = await post(admin, '/tenants', { name: 'Acme', slug: 'Not A Slug' }, '/tenants');
    expect(bad.status).toBe(400);
    expect(fieldError(bad.text, 'slug')).toMatch(/^Must be 1-50 lower-case letters/);
    expect(fieldValue(bad.text, 'name')).toBe('Acme');

    expect((await post(admin, '/tenants', { name: 'Acme', slug: 'acme' }, '/tenants')).status).toBe(302);
    const taken = await post(admin, '/tenants', { name: 'Acme 2', slug: 'acme' }, '/tenants');
    expect(taken.status).toBe(400);
    expect(fieldError(taken.text, 'slug')).toBe('The slug "acme" is taken.');

    const acme = await w.ctx.tenants.getBySlug('acme');
    const list = await admin.get('/tenants').expect(200);
    expect(list.text).toContain(`href="/tenants/${acme.id}"`);
    expect((await post(admin, `/tenants/${acme.id}/rename`, { name: 'Acme Corp' }, `/tenants/${acme.id}`)).status).toBe(302);
    expect((await w.ctx.tenants.getById(acme.id)).name).toBe('Acme Corp');
    const blank = await post(admin, `/tenants/${acme.id}/rename`, { name: '  ' }, `/tenants/${acme.id}`);
    expect(blank.status).toBe(400);
    expect(fieldError(blank.text, 'name')).toBe('Must not be blank.');
  });

  test('creates a user with a membership; errors keep values but never the password', async () => {
    const bad = await post(admin, '/users', { email: 'not-an-email', name: 'Pat', password: 'short', tenantId: w.tenant.id, role: 'admin' }, '/users');
    expect(bad.status).toBe(400);
    expect(fieldError(bad.text, 'email')).toBe('Must be an email address.');
    expect(fieldValue(bad.text, 'name')).toBe('Pat');
    expect(bad.text).not.toContain('value="short"');

    const ok = await post(admin, '/users', { email: 'pat@example.com', name: 'Pat', password: 'a long enough password', tenantId: w.tenant.id, role: 'admin' }, '/users');
    expect(ok.status).toBe(302);
    const pat = await w.ctx.users.getByEmail('pat@example.com');
    expect((await w.ctx.users.membershipOf(pat.id, w.tenant.id))?.role).toBe('admin');
    await signedIn(w.app, 'pat@example.com');

    const dup = await post(admin, '/users', { email: 'PAT@example.com', password: 'a long enough password' }, '/users');
    expect(fieldError(dup.text, 'email')).toBe('A user with the email pat@example.com exists already.');
  });

  test('assigns, changes and removes memberships; cannot disable oneself', async () => {
    const user = w.otherMember;
    expect((await post(admin, `/users/${user.id}/memberships`, { tenantId: w.other.id, role: 'admin' }, `/users/${user.id}`)).status).toBe(302);
    expect((await w.ctx.users.membershipOf(user.id, w.other.id))?.role).toBe('admin');
    const page = await admin.get(`/users/${user.id}`).expect(200);
    expect(page.text).toContain(w.other.name);
    expect((await post(admin, `/users/${user.id}/memberships/${w.other.id}/remove`, {}, `/users/${user.id}`)).status).toBe(302);
    expect(await w.ctx.users.membershipOf(user.id, w.other.id)).toBeNull();
    // The only owner of a tenant stays.
    expect((await post(admin, `/users/${w.outsider.id}/memberships/${w.other.id}/remove`, {}, `/users/${w.outsider.id}`)).status).toBe(403);

    const self = await post(admin, `/users/${w.admin.id}/disable`, {}, `/users/${w.admin.id}`);
    expect(self.status).toBe(403);
    expect((await w.ctx.users.getById(w.admin.id)).disabled).toBe(false);
  });
});

describe('members (tenant owners and admins)', () => {
  let w: World;
  let owner: Agent;
  beforeAll(async () => {
    w = await createWorld();
    owner = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  test('adds an existing account, explains an unknown one, changes a role, removes after confirmation', async () => {
    const unknown = await post(owner, '/members', { email: 'ghost@example.com', role: 'member' }, '/members');
    expect(unknown.status).toBe(400);
    expect(fieldError(unknown.text, 'email')).toMatch(/^Has no Keyward account yet/);
    expect(fieldValue(unknown.text, 'email')).toBe('ghost@example.com');

    expect((await post(owner, '/members', { email: w.outsider.email, role: 'member' }, '/members')).status).toBe(302);
    expect((await w.ctx.users.membershipOf(w.outsider.id, w.tenant.id))?.role).toBe('member');
    const again = await post(owner, '/members', { email: w.outsider.email, role: 'member' }, '/members');
    expect(fieldError(again.text, 'email')).toMatch(/^Is a member already/);

    expect((await post(owner, `/members/${w.outsider.id}/role`, { role: 'admin' }, '/members')).status).toBe(302);
    expect((await w.ctx.users.membershipOf(w.outsider.id, w.tenant.id))?.role).toBe('admin');

    const confirm = await owner.get(`/members/${w.outsider.id}/remove`).expect(200);
    expect(confirm.text).toContain(`Remove ${w.outsider.email}?`);
    expect(await w.ctx.users.membershipOf(w.outsider.id, w.tenant.id)).not.toBeNull();
    expect((await post(owner, `/members/${w.outsider.id}/remove`, {}, '/members')).status).toBe(302);
    expect(await w.ctx.users.membershipOf(w.outsider.id, w.tenant.id)).toBeNull();

    const events = (await w.ctx.database.prisma.auditEvent.findMany({ where: { targetId: w.outsider.id, tenantId: w.tenant.id } })).map((e) => e.action);
    expect(events).toEqual(['member.add', 'member.role_change', 'member.remove']);
  });
});

describe('audit log', () => {
  let w: World;
  let owner: Agent;
  let keyA: string;
  beforeAll(async () => {
    w = await createWorld();
    owner = await signedIn(w.app, w.owner.email);
    keyA = w.keys.member.id;
    for (let i = 0; i < 30; i++) {
      expect((await post(owner, `/keys/${keyA}/${i % 2 ? 'activate' : 'deactivate'}`)).status).toBe(302);
    }
    const memberAgent = await signedIn(w.app, w.member.email);
    expect((await post(memberAgent, `/keys/${keyA}/reset-usage`)).status).toBe(302);
  });
  afterAll(() => w.close());

  const actions = (html: string) => [...html.matchAll(/<code class="muted small">([a-z_.]+)<\/code>/g)].map((m) => m[1]);

  test('filters by action, key, actor and date range, and paginates', async () => {
    const deactivations = await owner.get('/audit?action=key.deactivate').expect(200);
    expect(new Set(actions(deactivations.text))).toEqual(new Set(['key.deactivate']));
    expect(deactivations.text).toContain('of 15 events');

    const byKey = await owner.get(`/audit?key=${keyA}`).expect(200);
    expect(byKey.text).toContain('of 32 events'); // create + 30 + reset
    expect(actions(byKey.text)).toHaveLength(25);
    expect(byKey.text).toContain(`href="/audit?key=${keyA}&amp;page=2"`);
    const page2 = await owner.get(`/audit?key=${keyA}&page=2`).expect(200);
    expect(actions(page2.text)).toHaveLength(7);
    expect(actions(page2.text).at(-1)).toBe('key.create');

    const byMember = await owner.get(`/audit?actor=${w.member.id}`).expect(200);
    expect(actions(byMember.text)).toEqual(['key.reset_usage']);

    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect((await owner.get(`/audit?from=${today}&to=${today}&key=${keyA}`)).text).toContain('of 32 events');
    const future = await owner.get(`/audit?from=${tomorrow}`).expect(200);
    expect(future.text).toContain('No events match these filters');
  });

  test('each event shows who, from where, and what changed', async () => {
    const res = await owner.get(`/audit?key=${keyA}&action=key.deactivate`).expect(200);
    expect(res.text).toContain(w.owner.email);
    expect(res.text).toContain('from 127.0.0.1');
    expect(res.text).toMatch(/<span class="change-field">status<\/span>: <span class="before">active<\/span> → <span class="after">inactive<\/span>/);
    expect(res.text).toMatch(/<time datetime="[^"]+" title="\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC">just now<\/time>/);
  });
});
