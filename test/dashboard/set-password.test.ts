/**
 * A platform admin sets a person's password on the person's page: a confirmation form, CSRF,
 * field errors beside the fields, every session of the person ended (the admin's own too when it
 * is their own account), an audit event. Nobody else may: 404 like a missing page.
 */
import { createWorld, fieldError, form, PASSWORD, post, signIn, signedIn, snapshot, type World } from './dashboard-helpers';

const NEW_PASSWORD = 'a brand new passphrase';

describe('setting a password (platform admin)', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('the user page links to a confirmation form; the POST sets it and ends every session of theirs', async () => {
    const admin = await signedIn(w.app, w.admin.email);
    const memberSessions = [await signedIn(w.app, w.member.email), await signedIn(w.app, w.member.email)];
    const colleague = await signedIn(w.app, w.otherMember.email);

    const detail = await admin.get(`/users/${w.member.id}`).expect(200);
    expect(detail.text).toContain(`href="/users/${w.member.id}/password"`);
    const page = await form(admin, `/users/${w.member.id}/password`);
    expect(page.html).toContain(`Set a new password for ${w.member.email}?`);
    expect(page.html).toMatch(/<input id="f-newPassword" name="newPassword" type="password" autocomplete="new-password" required/);
    expect(page.html).toMatch(/<input id="f-confirmPassword" name="confirmPassword" type="password"/);

    const res = await admin
      .post(`/users/${w.member.id}/password`)
      .type('form')
      .send({ newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD, _csrf: page.csrf });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/users/${w.member.id}`);
    const after = await admin.get(`/users/${w.member.id}`).expect(200);
    expect(after.text).toContain(`Set a new password for ${w.member.email}; every session of theirs has ended.`);

    // Their sessions ended; the colleague's and the admin's did not.
    for (const session of memberSessions) await session.get('/keys').expect(302).expect('Location', '/login?next=%2Fkeys');
    expect(await w.ctx.database.prisma.session.count({ where: { userId: w.member.id } })).toBe(0);
    await colleague.get('/keys').expect(200);
    await admin.get('/keys').expect(200);

    // The old password no longer signs in; the new one does.
    expect((await signIn(w.app, w.member.email, PASSWORD)).res.status).toBe(401);
    await signedIn(w.app, w.member.email, NEW_PASSWORD);

    const events = await w.ctx.database.prisma.auditEvent.findMany({ where: { action: 'user.password_set', targetId: w.member.id } });
    expect(events.map((e) => [e.actorType, e.actorId])).toEqual([['user', w.admin.id]]);
  });

  test('validation errors come back beside the fields, and change nothing', async () => {
    const admin = await signedIn(w.app, w.admin.email);
    const target = `/users/${w.otherMember.id}/password`;
    const before = await snapshot(w);
    const mismatch = await post(admin, target, { newPassword: NEW_PASSWORD, confirmPassword: 'something else entirely' }, target);
    expect(mismatch.status).toBe(400);
    expect(fieldError(mismatch.text, 'confirmPassword')).toBe('Does not match the new password.');
    const short = await post(admin, target, { newPassword: 'short', confirmPassword: 'short' }, target);
    expect(short.status).toBe(400);
    expect(fieldError(short.text, 'newPassword')).toBe('Must be at least 12 characters.');
    expect(short.text).not.toContain('value="short"');
    expect(await snapshot(w)).toBe(before);
    await signedIn(w.app, w.otherMember.email);
  });

  test('without the CSRF token: 403 and nothing changes', async () => {
    const admin = await signedIn(w.app, w.admin.email);
    const victim = await signedIn(w.app, w.owner.email);
    const before = await snapshot(w);
    const res = await admin.post(`/users/${w.owner.id}/password`).type('form').send({ newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(res.status).toBe(403);
    expect(await snapshot(w)).toBe(before);
    await victim.get('/keys').expect(200);
  });

  test('owners and members get 404 like a missing page, for the form and the POST', async () => {
    for (const email of [w.owner.email, w.otherMember.email]) {
      const agent = await signedIn(w.app, email);
      const missing = await agent.get('/no-such-page').expect(404);
      const before = await snapshot(w);
      const page = await agent.get(`/users/${w.outsider.id}/password`);
      expect(page.status).toBe(404);
      expect(page.text).toBe(missing.text);
      const sent = await post(agent, `/users/${w.outsider.id}/password`, { newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
      expect(sent.status).toBe(404);
      expect(await snapshot(w)).toBe(before);
    }
    await signedIn(w.app, w.outsider.email);
  });

  test('on their own account: every session of theirs ends, this one too, and they sign in again', async () => {
    const admin = await signedIn(w.app, w.admin.email);
    const elsewhere = await signedIn(w.app, w.admin.email);
    const page = await form(admin, `/users/${w.admin.id}/password`);
    expect(page.html).toContain('This is your own account.');
    const res = await admin
      .post(`/users/${w.admin.id}/password`)
      .type('form')
      .send({ newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD, _csrf: page.csrf });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login?signedOut=1');
    await admin.get('/keys').expect(302).expect('Location', '/login?next=%2Fkeys');
    await elsewhere.get('/keys').expect(302);
    expect(await w.ctx.database.prisma.session.count({ where: { userId: w.admin.id } })).toBe(0);
    await signedIn(w.app, w.admin.email, NEW_PASSWORD);
  });
});
