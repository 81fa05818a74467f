/**
 * What a person noticed on the people pages (issue 10, item 7): the members page does not offer
 * the last owner's removal or role change (and says why); disabling a user, changing a role,
 * removing a membership and "sign out everywhere" each have a confirmation step; the users list
 * has search and pages; the account form reports every error at once.
 */
import { buildTenant, buildUser } from '../helpers/context';
import { createWorld, csrfOf, fieldError, post, signedIn, snapshot, type Agent, type World } from './dashboard-helpers';

describe('the last owner', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('is offered neither a role change nor removal, and the page says why', async () => {
    const tenant = await buildTenant(w.ctx, { name: 'Solo Co' });
    const solo = await buildUser(w.ctx, tenant, { role: 'owner' });
    const helper = await buildUser(w.ctx, tenant, { role: 'admin' });
    const agent = await signedIn(w.app, solo.email);
    const list = await agent.get('/members').expect(200);
    expect(list.text).not.toContain(`/members/${solo.id}/remove`);
    expect(list.text).not.toContain(`action="/members/${solo.id}/role"`);
    expect(list.text).toContain('The only owner: a tenant always keeps one. Make someone else an owner first to change or remove yourself.');
    // The admin can still be changed and removed.
    expect(list.text).toContain(`action="/members/${helper.id}/role"`);
    expect(list.text).toContain(`/members/${helper.id}/remove`);

    // Typed addresses explain instead of offering a dead-end form.
    const remove = await agent.get(`/members/${solo.id}/remove`).expect(200);
    expect(remove.text).toContain('This is the tenant&#39;s only owner. Make someone else an owner first.');
    expect(remove.text).not.toContain(`<form method="post" action="/members/${solo.id}/remove"`);
    const role = await agent.get(`/members/${solo.id}/role?role=member`).expect(200);
    expect(role.text).toContain('only owner');
    expect(role.text).not.toContain(`<form method="post" action="/members/${solo.id}/role"`);

    // An admin sees owners without controls, with the reason.
    const admin = await signedIn(w.app, helper.email);
    const seen = await admin.get('/members').expect(200);
    expect(seen.text).toContain('The only owner: a tenant always keeps one.');
    expect(seen.text).not.toContain(`/members/${solo.id}/remove`);
  });
});

describe('confirmation steps', () => {
  let w: World;
  let admin: Agent;
  beforeAll(async () => {
    w = await createWorld();
    admin = await signedIn(w.app, w.admin.email);
  });
  afterAll(() => w.close());

  test('disabling and enabling a user: the page links to a confirmation, GET changes nothing, POST does it', async () => {
    const detail = await admin.get(`/users/${w.otherMember.id}`).expect(200);
    expect(detail.text).not.toContain(`<form method="post" action="/users/${w.otherMember.id}/disable"`);
    expect(detail.text).toContain(`href="/users/${w.otherMember.id}/disable"`);
    const before = await snapshot(w);
    const confirm = await admin.get(`/users/${w.otherMember.id}/disable`).expect(200);
    expect(confirm.text).toContain(`Disable ${w.otherMember.email}?`);
    expect(confirm.text).toContain('Every session of this account ends at once');
    expect(confirm.text).toContain(`<form method="post" action="/users/${w.otherMember.id}/disable"`);
    expect(await snapshot(w)).toBe(before);
    expect((await post(admin, `/users/${w.otherMember.id}/disable`, {}, `/users/${w.otherMember.id}/disable`)).status).toBe(302);
    expect((await w.ctx.users.getById(w.otherMember.id)).disabled).toBe(true);
    const enable = await admin.get(`/users/${w.otherMember.id}/enable`).expect(200);
    expect(enable.text).toContain(`<form method="post" action="/users/${w.otherMember.id}/enable"`);
    expect((await post(admin, `/users/${w.otherMember.id}/enable`, {}, `/users/${w.otherMember.id}/enable`)).status).toBe(302);
    expect((await w.ctx.users.getById(w.otherMember.id)).disabled).toBe(false);
    // Your own account: the confirmation explains instead of offering the button.
    const self = await admin.get(`/users/${w.admin.id}/disable`).expect(200);
    expect(self.text).toContain('you cannot disable it');
    expect(self.text).not.toContain('<form method="post" action="/users/');
  });

  test('changing a role, on the members page and the user page, goes through a confirmation', async () => {
    const owner = await signedIn(w.app, w.owner.email);
    const list = await owner.get('/members').expect(200);
    expect(list.text).toContain(`<form method="get" action="/members/${w.member.id}/role"`);
    expect(list.text).not.toContain(`<form method="post" action="/members/${w.member.id}/role"`);
    const before = await snapshot(w);
    const confirm = await owner.get(`/members/${w.member.id}/role?role=admin`).expect(200);
    expect(confirm.text).toContain(`Change the role of ${w.member.email}?`);
    expect(confirm.text).toMatch(/<option value="admin" selected>admin<\/option>/);
    expect(confirm.text).toContain('Admins manage every key and member, except owners.');
    expect(await snapshot(w)).toBe(before);
    expect((await post(owner, `/members/${w.member.id}/role`, { role: 'admin' }, '/members')).status).toBe(302);
    expect((await w.ctx.users.membershipOf(w.member.id, w.tenant.id))?.role).toBe('admin');

    const userPage = await admin.get(`/users/${w.member.id}`).expect(200);
    expect(userPage.text).toContain(`<form method="get" action="/users/${w.member.id}/memberships/${w.tenant.id}/role"`);
    const userConfirm = await admin.get(`/users/${w.member.id}/memberships/${w.tenant.id}/role?role=member`).expect(200);
    expect(userConfirm.text).toContain(`<input type="hidden" name="tenantId" value="${w.tenant.id}">`);
    expect(userConfirm.text).toMatch(/<option value="member" selected>member<\/option>/);
    expect((await post(admin, `/users/${w.member.id}/memberships`, { tenantId: w.tenant.id, role: 'member' }, '/account')).status).toBe(302);
    expect((await w.ctx.users.membershipOf(w.member.id, w.tenant.id))?.role).toBe('member');

    const removal = await admin.get(`/users/${w.member.id}/memberships/${w.tenant.id}/remove`).expect(200);
    expect(removal.text).toContain(`Remove ${w.member.email} from ${w.tenant.name}?`);
    expect(removal.text).toContain(`<form method="post" action="/users/${w.member.id}/memberships/${w.tenant.id}/remove"`);
  });

  test('"sign out everywhere" asks first; only the POST ends the sessions', async () => {
    const person = await signedIn(w.app, w.outsider.email);
    const account = await person.get('/account').expect(200);
    expect(account.text).not.toContain('<form method="post" action="/account/sign-out-everywhere"');
    expect(account.text).toContain('href="/account/sign-out-everywhere"');
    const confirm = await person.get('/account/sign-out-everywhere').expect(200);
    expect(confirm.text).toContain('Sign out everywhere?');
    expect(confirm.text).toContain('this one included');
    await person.get('/account').expect(200); // still signed in
    const done = await person.post('/account/sign-out-everywhere').type('form').send({ _csrf: csrfOf(confirm.text) });
    expect(done.headers.location).toBe('/login?signedOut=1');
    expect((await person.get('/account')).status).toBe(302);
  });
});

describe('the users list', () => {
  let w: World;
  let admin: Agent;
  beforeAll(async () => {
    w = await createWorld();
    for (let i = 0; i < 55; i++) await buildUser(w.ctx, null, { email: `bulk-${String(i).padStart(2, '0')}@example.com` });
    await w.ctx.users.create({ email: 'percent@example.com', name: 'Hundred % Sure', password: 'a long enough password' }, { type: 'system', id: null, label: 'test' });
    await w.ctx.users.create({ email: 'named@example.com', name: 'Grace Hopper', password: 'a long enough password' }, { type: 'system', id: null, label: 'test' });
    admin = await signedIn(w.app, w.admin.email);
  });
  afterAll(() => w.close());

  const emails = (html: string) => [...html.matchAll(/<td data-label="Email"><a href="\/users\/[^"]+">([^<]+)<\/a>/g)].map((m) => m[1]);

  test('pages of 50 by email, with a page jump', async () => {
    const first = await admin.get('/users').expect(200);
    expect(emails(first.text)).toHaveLength(50);
    expect(emails(first.text)[0]).toBe(w.admin.email);
    expect(first.text).toMatch(/Showing 1–50 of 6\d users · page 1 of 2/);
    expect(first.text).toContain('<form method="get" action="/users" class="page-jump">');
    const second = await admin.get('/users?page=2').expect(200);
    expect(emails(second.text).length).toBeGreaterThan(5);
    expect(emails(second.text)).not.toContain(emails(first.text)[49]);
  });

  test('search by email or name, case-insensitive, % and _ literal', async () => {
    expect(emails((await admin.get('/users?q=BULK-0')).text)).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-0${i}@example.com`));
    expect(emails((await admin.get('/users?q=grace')).text)).toEqual(['named@example.com']);
    expect(emails((await admin.get(`/users?q=${encodeURIComponent('%')}`)).text)).toEqual(['percent@example.com']);
    expect(emails((await admin.get('/users?q=_')).text)).toEqual([]);
    const none = await admin.get('/users?q=nobody-like-this').expect(200);
    expect(none.text).toContain('No user matches');
    // The search stays in the page links.
    expect((await admin.get('/users?q=bulk')).text).toContain('href="/users?q=bulk&amp;page=2"');
  });
});

describe('the account form', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('reports every error at once, and changes nothing', async () => {
    const agent = await signedIn(w.app, w.member.email);
    const res = await post(agent, '/account/password', { currentPassword: 'not my password', newPassword: 'short', confirmPassword: 'different' });
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'currentPassword')).toBe('Is not your current password.');
    expect(fieldError(res.text, 'newPassword')).toBe('Must be at least 12 characters.');
    expect(fieldError(res.text, 'confirmPassword')).toBe('Does not match the new password.');
    expect(res.text).toContain('Please fix these 3 fields');
    expect(await w.ctx.users.authenticate(w.member.email, 'a long enough password')).not.toBeNull();

    const empty = await post(agent, '/account/password', { currentPassword: '', newPassword: 'a brand new passphrase', confirmPassword: 'a brand new passphrase' });
    expect(fieldError(empty.text, 'currentPassword')).toBe('Is required.');
    expect(fieldError(empty.text, 'newPassword')).toBeNull();
  });
});
