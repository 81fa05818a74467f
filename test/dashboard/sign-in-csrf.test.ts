/**
 * Anonymous pages store no session, and the sign-in form keeps its CSRF protection without one:
 * a signed double-submit token (sign-in-csrf.ts). Forged sign-ins are refused with 403, change
 * nothing and count no failure against the account.
 */
import request from 'supertest';
import { SignInCsrf } from '../../src/dashboard/sign-in-csrf';
import { browser, createWorld, csrfOf, form, PASSWORD, signIn, signedIn, snapshot, type World } from './dashboard-helpers';

const sessionRows = (w: World) => w.ctx.database.prisma.session.count();

/** The sign-in cookie (name=value) a response set. */
function loginCookie(res: { headers: Record<string, unknown> }): string {
  const cookie = ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((c) => c.startsWith('keyward.login='));
  if (!cookie) throw new Error('no sign-in cookie in the response');
  return cookie.split(';')[0];
}

describe('anonymous pages store no session', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld({
      config: {
        dashboard: { publicUrl: null, sessionIdleMinutes: 30, sessionMaxHours: 12, loginFailuresPerEmailAndIp: 2, loginFailuresPerIpPerDay: 1000 },
      },
    });
  });
  afterAll(() => w.close());

  test('1,000 anonymous GET /login leave the sessions table empty', async () => {
    expect(await sessionRows(w)).toBe(0);
    for (let i = 0; i < 1000; i += 50) {
      const batch = Array.from({ length: 50 }, (_, j) =>
        request(w.app)
          .get(j % 2 ? '/login' : `/login?next=${encodeURIComponent(`/keys?page=${i + j}`)}`)
          .expect(200),
      );
      const pages = await Promise.all(batch);
      for (const page of pages) expect(page.headers['set-cookie']).toEqual([expect.stringMatching(/^keyward\.login=/)]);
    }
    expect(await sessionRows(w)).toBe(0);
  });

  test('nor does any other anonymous page: redirects, 404, error pages, assets, failed and forged sign-ins', async () => {
    const html = 'text/html,application/xhtml+xml';
    const anonymous = browser(w.app);
    await anonymous.get('/login?signedOut=1').expect(200);
    await anonymous.get('/').expect(302);
    await anonymous.get('/keys?status=active').expect(302);
    await anonymous.get('/no/such/page').expect(404);
    await request(w.app).get('/no/such/page').set('Accept', 'application/json').expect(404);
    await anonymous.get('/assets/app.css').expect(200);
    await anonymous.get('/assets/missing.css').expect(404);
    await anonymous.post('/keys').type('form').send({ name: 'x' }).expect(403);
    await anonymous.post('/logout').type('form').send({}).expect(403);
    await request(w.app).post('/login').set('Accept', html).type('form').send({ email: w.owner.email, password: PASSWORD }).expect(403);
    // A session cookie that is forged, or was valid once, is anonymous and stores nothing either.
    await request(w.app).get('/login').set('Cookie', 'keyward.sid=s%3Aforged.signature').expect(200);
    expect((await signIn(w.app, 'nobody@example.com', 'not the password')).res.status).toBe(401);
    expect((await signIn(w.app, w.otherMember.email, 'wrong password 1')).res.status).toBe(401);
    expect((await signIn(w.app, w.otherMember.email, 'wrong password 2')).res.status).toBe(429);
    expect(await sessionRows(w)).toBe(0);

    // Signing in stores exactly one session; signing out removes it again.
    const agent = await signedIn(w.app, w.owner.email);
    expect(await sessionRows(w)).toBe(1);
    const { csrf } = await form(agent, '/account');
    await agent.post('/logout').type('form').send({ _csrf: csrf }).expect(302).expect('Location', '/login?signedOut=1');
    await agent.get('/login?signedOut=1').expect(200);
    expect(await sessionRows(w)).toBe(0);
  });
});

describe('forged sign-ins', () => {
  let w: World;
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);

  beforeAll(async () => {
    w = await createWorld({
      clock,
      config: {
        dashboard: { publicUrl: null, sessionIdleMinutes: 30, sessionMaxHours: 12, loginFailuresPerEmailAndIp: 2, loginFailuresPerIpPerDay: 1000 },
      },
    });
  });
  afterAll(() => w.close());
  afterEach(() => {
    offset = 0;
  });

  /** A sign-in page fetched by a fresh browser: its cookie and its form's token. */
  async function loginPage() {
    const page = await request(w.app).get('/login').expect(200);
    return { cookie: loginCookie(page), token: csrfOf(page.text) };
  }

  /** POST /login with the right password for the member, and the given cookie and token. */
  function attempt(cookie: string | null, token: string | null, password = PASSWORD) {
    let req = request(w.app).post('/login').set('Accept', 'text/html');
    if (cookie) req = req.set('Cookie', cookie);
    return req.type('form').send({ email: w.member.email, password, ...(token === null ? {} : { _csrf: token }) });
  }

  /** Flips one character of the token's HMAC part. */
  function tamper(token: string): string {
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    return `${token.slice(0, -1)}${last}`;
  }

  test('are refused with 403 before any password is checked: nothing changes, no failure counted', async () => {
    const mine = await loginPage();
    const theirs = await loginPage();
    const [issuedAt, mac] = mine.token.split('.');
    const signedInPage = await form(await signedIn(w.app, w.owner.email), '/account');
    const before = await snapshot(w);
    const sessionsBefore = await sessionRows(w);

    const forgeries: [string, string | null, string | null][] = [
      ['no cookie, no token', null, null],
      ['the cookie without a token', mine.cookie, null],
      ['a token without its cookie', null, mine.token],
      ['a token bound to another browser’s cookie', theirs.cookie, mine.token],
      ['a tampered HMAC', mine.cookie, tamper(mine.token)],
      ['a changed issue time', mine.cookie, `${(parseInt(issuedAt, 36) + 1).toString(36)}.${mac}`],
      ['an empty token', mine.cookie, ''],
      ['the HMAC alone', mine.cookie, mac],
      ['a tampered cookie', `keyward.login=${tamper(mine.cookie.split('=')[1])}`, mine.token],
      ['a signed-in session’s own token', mine.cookie, signedInPage.csrf],
    ];
    for (const [label, cookie, token] of forgeries) {
      // Each with the wrong password too: were it checked, the second would block the account.
      for (const password of [PASSWORD, 'wrong password']) {
        const res = await attempt(cookie, token, password);
        expect({ label, status: res.status }).toEqual({ label, status: 403 });
        expect(res.headers['content-type']).toMatch(/text\/html/);
        expect(res.text).toContain('This form has expired or did not come from this site, so nothing was changed.');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
    }
    expect(await snapshot(w)).toBe(before);
    expect(await sessionRows(w)).toBe(sessionsBefore);

    // No failure was counted: one real failure is a 401 (the second would be 429), and the
    // very same cookie and token sign in.
    expect((await signIn(w.app, w.member.email, 'wrong password')).res.status).toBe(401);
    const res = await attempt(mine.cookie, mine.token).expect(302);
    expect(res.headers.location).toBe('/');
  });

  test('an expired token is refused; a form younger than its lifetime works, also after a failure', async () => {
    const old = await loginPage();
    offset = 2 * 3_600_000 + 1000; // the form's lifetime (2 h) and a second
    const expired = await attempt(old.cookie, old.token);
    expect(expired.status).toBe(403);

    const fresh = await loginPage();
    offset += 2 * 3_600_000 - 60_000;
    const failed = await attempt(fresh.cookie, fresh.token, 'wrong password');
    expect(failed.status).toBe(401);
    // The form shown again carries a new token for the same cookie.
    expect(loginCookie(failed)).toBe(fresh.cookie);
    await attempt(fresh.cookie, csrfOf(failed.text)).expect(302);
  });

  test('a token issued in the future (beyond a minute of clock skew) is refused', async () => {
    offset = 5 * 60_000;
    const future = await loginPage();
    offset = 0;
    expect((await attempt(future.cookie, future.token)).status).toBe(403);
  });

  test('/LOGIN and /login/ reach the same route and get the same check', async () => {
    const page = await loginPage();
    for (const path of ['/LOGIN', '/login/']) {
      const forged = await request(w.app).post(path).set('Accept', 'text/html').type('form').send({ email: w.member.email, password: PASSWORD });
      expect(forged.status).toBe(403);
    }
    const res = await request(w.app).post('/LOGIN').set('Cookie', page.cookie).type('form').send({ email: w.member.email, password: PASSWORD, _csrf: page.token });
    expect(res.status).toBe(302);
  });
});

describe('SignInCsrf options', () => {
  test('refuses a short secret and a bad lifetime with a message saying what to pass', () => {
    expect(() => new SignInCsrf({ sessionSecret: 'short', publicUrl: null })).toThrow(/sessionSecret must be the SESSION_SECRET/);
    const sessionSecret = 'x'.repeat(32);
    expect(() => new SignInCsrf({ sessionSecret, publicUrl: null, lifetimeMs: 0 })).toThrow(/lifetimeMs must be a positive/);
    expect(new SignInCsrf({ sessionSecret, publicUrl: 'https://keys.example.com' }).cookieName).toBe('__Host-keyward.login');
    expect(new SignInCsrf({ sessionSecret, publicUrl: 'http://localhost:3000' }).cookieName).toBe('keyward.login');
  });
});
