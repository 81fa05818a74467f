/** Sign-in and sign-out: credentials, a new session id, cookie attributes, brute-force blocking, disabled accounts. */
import request from 'supertest';
import { buildUser } from '../helpers/context';
import { createWorld, csrfOf, PASSWORD, post, sessionCookie, signIn, signedIn, type World } from './dashboard-helpers';

describe('sign-in', () => {
  let w: World;

  beforeAll(async () => {
    w = await createWorld({
      config: {
        dashboard: {
          publicUrl: null,
          sessionIdleMinutes: 30,
          sessionMaxHours: 12,
          loginFailuresPerEmailAndIp: 3,
          loginFailuresPerIpPerDay: 1000,
        },
      },
    });
  });
  afterAll(() => w.close());

  test('the sign-in page has the email, password and CSRF fields, and starts no session', async () => {
    const res = await request(w.app).get('/login').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toMatch(/<form method="post" action="\/login"/);
    expect(res.text).toMatch(/<input id="f-email" name="email" type="email"/);
    expect(res.text).toMatch(/<input id="f-password" name="password" type="password"/);
    // <issued at>.<HMAC>, bound to the short-lived sign-in cookie; no session cookie yet.
    expect(csrfOf(res.text)).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]{43}$/);
    expect(sessionCookie(res)).toBeNull();
    const raw = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('keyward.login='));
    expect(raw).toMatch(/^keyward\.login=[A-Za-z0-9_-]{43}; Max-Age=7200; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Strict$/);
  });

  test('pages need a signed-in person: GET goes to /login and comes back after', async () => {
    const res = await request(w.app).get('/keys?status=active').expect(302);
    expect(res.headers.location).toBe('/login?next=%2Fkeys%3Fstatus%3Dactive');
    const agent = request.agent(w.app);
    const page = await agent.get('/login?next=%2Fkeys%3Fstatus%3Dactive').expect(200);
    const signed = await agent
      .post('/login')
      .type('form')
      .send({ email: w.owner.email, password: PASSWORD, next: '/keys?status=active', _csrf: csrfOf(page.text) })
      .expect(302);
    expect(signed.headers.location).toBe('/keys?status=active');
  });

  test('a redirect after sign-in never leaves the site', async () => {
    for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
      const agent = request.agent(w.app);
      const page = await agent.get('/login').expect(200);
      const res = await agent.post('/login').type('form').send({ email: w.owner.email, password: PASSWORD, next, _csrf: csrfOf(page.text) });
      expect(res.headers.location).toBe('/');
    }
  });

  test('success regenerates the session id and sets a strict cookie', async () => {
    // A session that exists before the sign-in (here a real one, as a planted cookie would be).
    const before = sessionCookie(await (await signedIn(w.app, w.member.email)).get('/').expect(200)) as string;
    expect(before).not.toBeNull();
    const page = await request(w.app).get('/login').expect(200);
    const loginCookie = (page.headers['set-cookie'] as unknown as string[])[0].split(';')[0];
    const res = await request(w.app)
      .post('/login')
      .set('Cookie', `${before}; ${loginCookie}`)
      .type('form')
      .send({ email: w.owner.email, password: PASSWORD, _csrf: csrfOf(page.text) })
      .expect(302);
    const after = sessionCookie(res);
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
    const cookies = res.headers['set-cookie'] as unknown as string[];
    const raw = cookies.find((c) => c.startsWith('keyward.sid='));
    expect(raw).toMatch(/; HttpOnly/);
    expect(raw).toMatch(/; SameSite=Lax/);
    expect(raw).toMatch(/; Path=\//);
    expect(raw).not.toMatch(/; Secure/);
    // The sign-in form's cookie is done with: the session's own token takes over.
    expect(cookies.find((c) => c.startsWith('keyward.login='))).toMatch(/^keyward\.login=; Path=\/; Expires=Thu, 01 Jan 1970/);

    // The session from before sign-in is gone: replaying its cookie is anonymous.
    await request(w.app).get('/').set('Cookie', before).expect(302).expect('Location', '/login');
    await request(w.app).get('/account').set('Cookie', after as string).expect(200);
  });

  test('a wrong password or unknown email answers 401 with the form again and no session', async () => {
    for (const [email, password] of [
      [w.member.email, 'not the password at all'],
      ['nobody@example.com', PASSWORD],
    ]) {
      const { agent, res } = await signIn(w.app, email, password);
      expect(res.status).toBe(401);
      expect(res.text).toContain('The email or password is not right.');
      expect(res.text).toContain(`value="${email}"`);
      await agent.get('/').expect(302);
    }
  });

  test('consecutive failures per email and IP are blocked with a 429 page saying when to retry', async () => {
    const email = w.otherMember.email;
    const statuses: number[] = [];
    let last = await signIn(w.app, email, 'wrong password 1');
    statuses.push(last.res.status);
    last = await signIn(w.app, email, 'wrong password 2');
    statuses.push(last.res.status);
    last = await signIn(w.app, email, 'wrong password 3');
    statuses.push(last.res.status);
    expect(statuses).toEqual([401, 401, 429]);
    expect(last.res.headers['retry-after']).toBe('900');
    expect(last.res.text).toContain('Too many failed sign-ins. Try again in 15 minutes');
    expect(last.res.text).toMatch(/<time datetime="[^"]+" title="[^"]+ UTC">in 15 minutes<\/time>/);

    // Blocked: even the right password is refused without being checked.
    const right = await signIn(w.app, email, PASSWORD);
    expect(right.res.status).toBe(429);
    await right.agent.get('/').expect(302);
    // Another account from the same address is not affected.
    await signedIn(w.app, w.owner.email);
  });

  test('a successful sign-in clears the consecutive-failure count', async () => {
    const { email } = await buildUser(w.ctx, w.tenant);
    await signIn(w.app, email, 'wrong password a');
    await signIn(w.app, email, 'wrong password b');
    await signedIn(w.app, email);
    expect((await signIn(w.app, email, 'wrong password c')).res.status).toBe(401);
    expect((await signIn(w.app, email, 'wrong password d')).res.status).toBe(401);
    await signedIn(w.app, email);
  });

  test('sign-out ends the session for good', async () => {
    const agent = await signedIn(w.app, w.owner.email);
    const page = await agent.get('/').expect(200);
    const cookie = sessionCookie(page) ?? (await agent.get('/account')).headers['set-cookie'];
    const res = await agent.post('/logout').type('form').send({ _csrf: csrfOf(page.text) }).expect(302);
    expect(res.headers.location).toBe('/login?signedOut=1');
    await agent.get('/').expect(302);
    await request(w.app).get('/').set('Cookie', String(cookie)).expect(302);
  });
});

describe('sign-in limits per IP per day', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld({
      config: {
        dashboard: { publicUrl: null, sessionIdleMinutes: 30, sessionMaxHours: 12, loginFailuresPerEmailAndIp: 10, loginFailuresPerIpPerDay: 3 },
      },
    });
  });
  afterAll(() => w.close());

  test('failures with different emails from one IP block that IP for the day', async () => {
    expect((await signIn(w.app, 'a@example.com', 'wrong password')).res.status).toBe(401);
    expect((await signIn(w.app, 'b@example.com', 'wrong password')).res.status).toBe(401);
    const third = await signIn(w.app, 'c@example.com', 'wrong password');
    expect(third.res.status).toBe(429);
    expect(Number(third.res.headers['retry-after'])).toBeGreaterThan(86_000);
    const blocked = await signIn(w.app, w.owner.email, PASSWORD);
    expect(blocked.res.status).toBe(429);
    expect(blocked.res.text).toContain('Too many failed sign-ins');
  });
});

describe('disabled accounts', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('cannot sign in, and lose every session when disabled', async () => {
    const memberSession = await signedIn(w.app, w.member.email);
    await memberSession.get('/keys').expect(200);
    const admin = await signedIn(w.app, w.admin.email);
    expect((await post(admin, `/users/${w.member.id}/disable`)).status).toBe(302);

    expect(await w.ctx.database.prisma.session.count({ where: { userId: w.member.id } })).toBe(0);
    await memberSession.get('/keys').expect(302).expect('Location', '/login?next=%2Fkeys');

    const again = await signIn(w.app, w.member.email, PASSWORD);
    expect(again.res.status).toBe(403);
    expect(again.res.text).toContain('This account is disabled');
    // A wrong password does not reveal that the account is disabled.
    expect((await signIn(w.app, w.member.email, 'wrong password x')).res.text).toContain('The email or password is not right.');

    expect((await post(admin, `/users/${w.member.id}/enable`)).status).toBe(302);
    await signedIn(w.app, w.member.email);
  });

  test('a session of an account disabled elsewhere (CLI, another instance) ends at its next request', async () => {
    const session = await signedIn(w.app, w.otherMember.email);
    await w.ctx.users.setDisabled(w.otherMember.id, true, { type: 'system', id: null, label: 'test' });
    await session.get('/').expect(302).expect('Location', '/login');
  });
});

describe('over HTTPS', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld({
      config: {
        trustProxy: 1,
        dashboard: { publicUrl: 'https://keys.example.com', sessionIdleMinutes: 30, sessionMaxHours: 12, loginFailuresPerEmailAndIp: 5, loginFailuresPerIpPerDay: 100 },
      },
    });
  });
  afterAll(() => w.close());

  test('the cookies are Secure with the __Host- prefix, and HSTS and upgrade-insecure-requests are sent', async () => {
    const res = await request(w.app).get('/login').set('X-Forwarded-Proto', 'https').expect(200);
    const [login, ...others] = res.headers['set-cookie'] as unknown as string[];
    expect(others).toEqual([]);
    expect(login).toMatch(/^__Host-keyward\.login=/);
    for (const attribute of [/; Path=\/(;|$)/, /; Secure/, /; HttpOnly/, /; SameSite=Strict/]) expect(login).toMatch(attribute);
    expect(login).not.toMatch(/; Domain=/);
    expect(res.headers['strict-transport-security']).toMatch(/max-age=31536000/);
    expect(res.headers['content-security-policy']).toContain('upgrade-insecure-requests');

    // Secure cookies are not sent back over plain HTTP by the test client: send them by hand.
    const signed = await request(w.app)
      .post('/login')
      .set('X-Forwarded-Proto', 'https')
      .set('Cookie', login.split(';')[0])
      .type('form')
      .send({ email: w.owner.email, password: PASSWORD, _csrf: csrfOf(res.text) })
      .expect(302);
    const raw = (signed.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('__Host-keyward.sid='));
    for (const attribute of [/; Path=\//, /; Secure/, /; HttpOnly/, /; SameSite=Lax/]) expect(raw).toMatch(attribute);
    expect(raw).not.toMatch(/; Domain=/);
  });
});
