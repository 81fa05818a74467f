/**
 * CSRF on every state-changing route, no state change on any GET, helmet's strict CSP on every
 * dashboard response, no inline script or style in any rendered page, error pages without
 * internals, and /api and /healthz untouched by the dashboard.
 */
import request from 'supertest';
import { ViewRenderer } from '../../src/dashboard/pages';
import { createWorld, csrfOf, form, post, signedIn, snapshot, type World, type Agent } from './dashboard-helpers';
import { fill, ROUTES, type RouteSpec } from './routes';

function pathFor(route: RouteSpec, w: World): string {
  switch (route.ids) {
    case 'key':
      return fill(route.path, { id: w.keys.member.id });
    case 'member':
      return fill(route.path, { userId: w.otherMember.id });
    case 'tenant':
      return fill(route.path, { id: w.other.id });
    case 'user':
      return fill(route.path, { id: w.otherMember.id });
    case 'membership':
      return fill(route.path, { id: w.otherMember.id, tenantId: w.tenant.id });
    case 'webhook':
      return fill(route.path, { id: w.webhooks.tenant.id });
    default:
      return route.path;
  }
}

/** Inline script, inline style, event-handler attributes and javascript: URLs in a page. */
export function inlineProblems(html: string): string[] {
  const problems: string[] = [];
  for (const tag of html.match(/<script\b[^>]*>/gi) ?? []) if (!/\ssrc="\/assets\/[^"]+"/.test(tag)) problems.push(tag);
  if (/<script\b[^>]*>[^<]+<\/script>/i.test(html)) problems.push('script with a body');
  if (/<style\b/i.test(html)) problems.push('<style>');
  for (const attr of html.match(/<[^>]+\sstyle\s*=/gi) ?? []) problems.push(attr);
  for (const attr of html.match(/<[^>]+\son[a-z]+\s*=/gi) ?? []) problems.push(attr);
  if (/javascript:/i.test(html.replace(/<input[^>]*name="next"[^>]*>/g, ''))) problems.push('javascript: URL');
  return problems;
}

describe('CSRF', () => {
  let w: World;
  let agent: Agent;
  beforeAll(async () => {
    w = await createWorld();
    agent = await signedIn(w.app, w.admin.email);
  });
  afterAll(() => w.close());

  const unsafe = ROUTES.filter((r) => r.method === 'POST');
  test.each(unsafe.map((r) => [r.path, r] as const))('POST %s without a token or with a wrong one: 403 page, nothing changed', async (_path, route) => {
    const path = pathFor(route, w);
    const before = await snapshot(w);
    const sessionsBefore = await w.ctx.database.prisma.session.count();
    for (const token of [undefined, 'wrong', '0'.repeat(64)]) {
      const body = { ...(route.body ?? {}), ...(token === undefined ? {} : { _csrf: token }) };
      const res = await agent.post(path).type('form').send(body);
      expect({ token, status: res.status }).toEqual({ token, status: 403 });
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.text).toContain('This form has expired or did not come from this site, so nothing was changed.');
    }
    expect(await snapshot(w)).toBe(before);
    // Not even sign-out or "sign out everywhere" happened.
    expect(await w.ctx.database.prisma.session.count()).toBe(sessionsBefore);
    await agent.get('/account').expect(200);
  });

  test('a token from another session is refused', async () => {
    const other = await signedIn(w.app, w.owner.email);
    const { csrf: foreign } = await form(other, '/account');
    const before = await snapshot(w);
    await agent.post(`/keys/${w.keys.member.id}/revoke`).type('form').send({ _csrf: foreign }).expect(403);
    expect(await snapshot(w)).toBe(before);
  });

  test('the token in the X-CSRF-Token header works too, and a valid token changes state', async () => {
    const { csrf } = await form(agent, '/account');
    await agent.post(`/keys/${w.keys.otherMember.id}/deactivate`).set('X-CSRF-Token', csrf).type('form').send({}).expect(302);
    expect((await w.ctx.keys.findById(w.keys.otherMember.id))?.status).toBe('inactive');
  });
});

describe('GET never changes state', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('every GET route, with real ids, leaves the database as it was', async () => {
    const agent = await signedIn(w.app, w.admin.email);
    // A one-time secret waiting in the session, so the secret page shows it.
    expect((await post(agent, `/keys/${w.keys.member.id}/regenerate`)).status).toBe(302);
    const before = await snapshot(w);
    const gets = ROUTES.filter((r) => r.method === 'GET');
    expect(gets.length).toBeGreaterThan(15);
    for (const route of gets) {
      const res = await agent.get(pathFor(route, w));
      expect({ path: route.path, status: res.status }).toEqual({ path: route.path, status: route.path === '/login' ? 302 : 200 });
    }
    await agent.get(`/keys/${w.keys.member.id}?ip=203.0.113.1&model=local-small`).expect(200);
    await agent.get('/logout').expect(404);
    await agent.get('/keys/new?name=x').expect(200);
    expect(await snapshot(w)).toBe(before);
  });
});

describe('security headers and inline content', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('a strict Content-Security-Policy on dashboard pages', async () => {
    const res = await request(w.app).get('/login').expect(200);
    const csp = res.headers['content-security-policy'] as string;
    const directives = Object.fromEntries(
      csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]),
    );
    expect(directives).toEqual({
      'default-src': "'self'",
      'script-src': "'self'",
      'script-src-attr': "'none'",
      'style-src': "'self'",
      'style-src-attr': "'none'",
      'font-src': "'self'",
      'img-src': "'self'",
      'connect-src': "'self'",
      'form-action': "'self'",
      'frame-ancestors': "'none'",
      'base-uri': "'none'",
      'object-src': "'none'",
    });
    expect(csp).not.toMatch(/unsafe|data:|https:|\*/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  test('no page has inline script, inline style or event handlers (every GET route, several roles, error pages)', async () => {
    const scanned: string[] = [];
    const scan = (label: string, html: string) => {
      scanned.push(label);
      expect({ label, problems: inlineProblems(html) }).toEqual({ label, problems: [] });
      expect(html).toMatch(/<link rel="stylesheet" href="\/assets\/app\.css">/);
    };
    scan('login', (await request(w.app).get('/login')).text);
    for (const email of [w.admin.email, w.owner.email, w.member.email]) {
      const agent = await signedIn(w.app, email);
      // (CSV downloads are not pages: tested in activity.test.ts.)
      for (const route of ROUTES.filter((r) => r.method === 'GET' && r.access !== 'public' && !r.download)) {
        const res = await agent.get(pathFor(route, w));
        scan(`${email} ${route.path} ${res.status}`, res.text);
      }
      scan(`${email} 404`, (await agent.get('/nope').expect(404)).text);
      scan(`${email} 403`, (await agent.post('/keys').type('form').send({ name: 'x' }).expect(403)).text);
      scan(`${email} 400`, (await post(agent, '/keys', { name: '', allowedIps: 'nope' }, '/keys/new')).text);
      scan(`${email} check`, (await agent.get(`/keys/${w.keys.member.id}?ip=1.2.3.4&model=x`)).text);
    }
    // The one-time secret page and the blocked sign-in page.
    const admin = await signedIn(w.app, w.admin.email);
    const created = await post(admin, '/keys', { name: 'scan me' }, '/keys/new');
    scan('secret', (await admin.get(created.headers.location as string).expect(200)).text);
    expect(scanned.length).toBeGreaterThan(60);
  });

  test('assets are served by the app, with no CDN anywhere', async () => {
    const css = await request(w.app).get('/assets/app.css').expect(200);
    expect(css.headers['content-type']).toMatch(/text\/css/);
    const js = await request(w.app).get('/assets/app.js').expect(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['set-cookie']).toBeUndefined();
    await request(w.app).get('/assets/favicon.svg').expect(200);
    const page = (await request(w.app).get('/login')).text;
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  test('a 500 page says nothing about the failure but the request id', async () => {
    const agent = await signedIn(w.app, w.owner.email);
    const spy = jest.spyOn(w.ctx.database.reads, 'all').mockRejectedValueOnce(new Error('database exploded at secret place'));
    const res = await agent.get('/keys').set('X-Request-Id', 'req-123').expect(500);
    spy.mockRestore();
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('Something went wrong');
    expect(res.text).toContain('req-123');
    expect(res.text).not.toContain('exploded');
    expect(res.text).not.toMatch(/at [\w.]+ \(/);
    expect(res.text).toContain('class="mainnav"');
  });

  test('even a broken template gives a bare error page without internals', async () => {
    const agent = await signedIn(w.app, w.owner.email);
    const spy = jest.spyOn(ViewRenderer.prototype, 'render').mockImplementation(() => {
      throw new Error('template broke at views/secret.ejs');
    });
    const res = await agent.get('/keys');
    spy.mockRestore();
    expect(res.status).toBe(500);
    expect(res.text).toContain('Something went wrong on our side');
    expect(res.text).not.toContain('template broke');
  });

  test('/api and /healthz keep their JSON answers and headers', async () => {
    const health = await request(w.app).get('/healthz').expect(200);
    expect(health.body).toMatchObject({ status: 'ok' });
    expect(health.headers['content-security-policy']).toBeUndefined();
    expect(health.headers['set-cookie']).toBeUndefined();

    const api = await request(w.app).get('/api/v1/models').expect(401);
    expect(api.body.error.code).toBe('missing_api_key');
    expect(api.headers['content-security-policy']).toBeUndefined();
    expect(api.headers['set-cookie']).toBeUndefined();

    const unknown = await request(w.app).get('/api/no-such-thing').expect(404);
    expect(unknown.headers['content-type']).toMatch(/application\/json/);
    expect(unknown.body.error.code).toBe('not_found');
    const bare = await request(w.app).get('/api').expect(404);
    expect(bare.headers['content-type']).toMatch(/application\/json/);

    // Unknown paths: JSON for clients that do not ask for HTML (as before the dashboard), the page for browsers.
    const probe = await request(w.app).get('/no-such-page').expect(404);
    expect(probe.body.error.code).toBe('not_found');
    const anonymous = await request(w.app).get('/no-such-page').set('Accept', 'text/html').expect(404);
    expect(anonymous.text).toContain('Page not found');
    expect(anonymous.text).toContain('href="/login"');
    const agent = await signedIn(w.app, w.owner.email);
    const html = await agent.get('/no-such-page').expect(404);
    expect(html.text).toContain('class="mainnav"');
    // Dashboard routes answer with pages whatever the client asks for.
    const cookie = (await agent.get('/keys')).headers['set-cookie'] as unknown as string[];
    const route = await request(w.app).get('/keys/ZZZZZZZZZZZZ').set('Cookie', cookie[0].split(';')[0]).expect(404);
    expect(route.headers['content-type']).toMatch(/text\/html/);
  });
});

test('inlineProblems finds what it looks for', () => {
  expect(inlineProblems('<p style="color:red">x</p>')).toHaveLength(1);
  expect(inlineProblems('<script>alert(1)</script>')).toHaveLength(2);
  expect(inlineProblems('<button onclick="x()">')).toHaveLength(1);
  expect(inlineProblems('<style>p{}</style>')).toHaveLength(1);
  expect(inlineProblems('<script src="/assets/app.js" defer></script><p>ok</p>')).toEqual([]);
  expect(csrfOf('<input type="hidden" name="_csrf" value="abc">')).toBe('abc');
});
