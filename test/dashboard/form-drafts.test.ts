/**
 * A filled form survives the end of its session (issue 10, item 7): sent after the session ended,
 * it does nothing, the person signs in again on the spot and finds the form filled in (never a
 * password), to check and send again with a fresh token. Only forms from this site are kept; a
 * foreign page's POST still gets the plain 403, and a draft cannot be forged, altered or replayed
 * after its lifetime.
 */
import { FormDrafts } from '../../src/dashboard/form-drafts';
import { createWorld, csrfOf, fieldValue, form, PASSWORD, signedIn, snapshot, type Agent, type World } from './dashboard-helpers';

const MINUTE = 60_000;
const SAME_ORIGIN = { 'Sec-Fetch-Site': 'same-origin' };

function testClock() {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance: (ms: number) => {
      offset += ms;
    },
  };
}

const filled = {
  name: 'half-typed key',
  description: 'typed before lunch',
  tags: 'billing',
  allowedIps: '10.0.0.0/8\n203.0.113.7',
  allowedModels: ['local-small', 'local-large'],
  metadata: '{"team": "billing"}',
  tier: 'pro',
  perMinute: '50',
  expiry: 'days',
  expiresInDays: '30',
};

describe('a form sent after its session ended', () => {
  const clock = testClock();
  let w: World;
  beforeAll(async () => {
    w = await createWorld({ clock: clock.now });
  });
  afterAll(() => w.close());

  /** A signed-in agent holding the key form's token, whose session then ends (idle timeout). */
  async function expiredOnForm(path = '/keys/new', email = w.owner.email): Promise<{ agent: Agent; csrf: string }> {
    const agent = await signedIn(w.app, email);
    const { csrf } = await form(agent, path);
    clock.advance(31 * MINUTE);
    return { agent, csrf };
  }

  const send = (agent: Agent, path: string, body: Record<string, unknown>, headers: Record<string, string> = SAME_ORIGIN) => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(body)) for (const item of Array.isArray(value) ? value : [value]) params.append(name, String(item));
    return agent.post(path).set(headers).type('form').send(params.toString());
  };

  test('does nothing, asks to sign in again, and brings the form back filled in', async () => {
    const { agent, csrf } = await expiredOnForm();
    const before = await snapshot(w);
    const res = await send(agent, '/keys', { ...filled, _csrf: csrf });
    expect(res.status).toBe(401);
    expect(res.text).toContain('Your session ended, so nothing was saved.');
    expect(res.text).toContain('<input type="hidden" name="next" value="/keys/new">');
    const draft = /<input type="hidden" name="draft" value="([^"]+)">/.exec(res.text)?.[1] as string;
    expect(draft).toBeTruthy();
    expect(draft).not.toContain('half-typed');
    expect(await snapshot(w)).toBe(before);
    // Nothing stored for the anonymous visitor.
    expect(res.headers['set-cookie']?.toString() ?? '').not.toMatch(/keyward\.sid=[^;]/);

    const signIn = await agent.post('/login').type('form').send({ email: w.owner.email, password: PASSWORD, _csrf: csrfOf(res.text), draft });
    expect(signIn.status).toBe(302);
    expect(signIn.headers.location).toBe('/keys/new');

    const page = await agent.get('/keys/new').expect(200);
    expect(page.text).toContain('Your session had ended, so nothing was saved. What you typed is back');
    expect(fieldValue(page.text, 'name')).toBe('half-typed key');
    expect(fieldValue(page.text, 'allowedIps')).toBe('10.0.0.0/8\n203.0.113.7');
    expect(fieldValue(page.text, 'metadata')).toBe('{"team": "billing"}');
    expect(fieldValue(page.text, 'expiresInDays')).toBe('30');
    expect(page.text).toMatch(/value="local-large" id="f-model-1" checked/);
    expect(page.text).toMatch(/name="expiry" value="days" checked/);
    expect(await snapshot(w)).toBe(before);

    // Once: the next visit shows an empty form.
    expect(fieldValue((await agent.get('/keys/new')).text, 'name')).toBe('');
  });

  test('an edit form comes back to its key; passwords are never kept', async () => {
    const { agent, csrf } = await expiredOnForm(`/keys/${w.keys.member.id}/edit`);
    const res = await send(agent, `/keys/${w.keys.member.id}/edit`, { name: 'renamed while away', expiry: 'keep', scopes: 'api', _csrf: csrf });
    expect(res.status).toBe(401);
    const draft = /name="draft" value="([^"]+)"/.exec(res.text)?.[1] as string;
    const signIn = await agent.post('/login').type('form').send({ email: w.owner.email, password: PASSWORD, _csrf: csrfOf(res.text), draft });
    expect(signIn.headers.location).toBe(`/keys/${w.keys.member.id}/edit`);
    expect(fieldValue((await agent.get(`/keys/${w.keys.member.id}/edit`)).text, 'name')).toBe('renamed while away');
    expect((await w.ctx.keys.get(w.tenant.id, w.keys.member.id)).name).toBe(w.keys.member.name);

    const admin = await expiredOnForm('/users', w.admin.email);
    const user = await send(admin.agent, '/users', { email: 'new.person@example.com', name: 'New Person', password: 'a secret password!', _csrf: admin.csrf });
    const sealed = /name="draft" value="([^"]+)"/.exec(user.text)?.[1] as string;
    expect(w.ctx.dashboard.drafts.open(sealed)?.values).toEqual({ email: 'new.person@example.com', name: 'New Person' });
  });

  test('a wrong password keeps the draft for the next try; a changed draft is ignored', async () => {
    const { agent, csrf } = await expiredOnForm();
    const res = await send(agent, '/keys', { ...filled, _csrf: csrf });
    const draft = /name="draft" value="([^"]+)"/.exec(res.text)?.[1] as string;
    const wrong = await agent.post('/login').type('form').send({ email: w.owner.email, password: 'wrong wrong wrong', _csrf: csrfOf(res.text), draft });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain(`name="draft" value="${draft}"`);
    const tampered = `${draft.slice(0, -3)}AAA`;
    const signIn = await agent.post('/login').type('form').send({ email: w.owner.email, password: PASSWORD, _csrf: csrfOf(wrong.text), draft: tampered, next: '/keys' });
    expect(signIn.headers.location).toBe('/keys');
    expect(fieldValue((await agent.get('/keys/new')).text, 'name')).toBe('');
  });

  test('a POST from another site, or that does not say where it came from, gets the plain 403', async () => {
    const foreign: Record<string, string>[] = [{ 'Sec-Fetch-Site': 'cross-site' }, { Origin: 'https://evil.example' }, {}];
    for (const headers of foreign) {
      const { agent, csrf } = await expiredOnForm();
      const res = await send(agent, '/keys', { ...filled, _csrf: csrf }, headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 403 });
      expect(res.text).toContain('This form has expired or did not come from this site');
      expect(res.text).not.toContain('name="draft"');
    }
    // A matching Origin (browsers without Sec-Fetch-Site) is from this site.
    const { agent, csrf } = await expiredOnForm();
    const res = await send(agent, '/keys', { ...filled, _csrf: csrf }, { Origin: 'http://127.0.0.1', Host: '127.0.0.1' });
    expect(res.status).toBe(401);
  });

  test('forms not worth keeping (key actions) still get the 403', async () => {
    const { agent, csrf } = await expiredOnForm(`/keys/${w.keys.member.id}/revoke`);
    const res = await send(agent, `/keys/${w.keys.member.id}/revoke`, { _csrf: csrf });
    expect(res.status).toBe(403);
    expect((await w.ctx.keys.get(w.tenant.id, w.keys.member.id)).status).toBe('active');
  });

  test('still signed in with a form from an earlier session: straight back to the form, filled in', async () => {
    const agent = await signedIn(w.app, w.owner.email);
    const res = await send(agent, '/keys', { ...filled, _csrf: 'a token of another session' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/keys/new');
    expect(fieldValue((await agent.get('/keys/new')).text, 'name')).toBe('half-typed key');
  });
});

test('drafts are sealed, authenticated and short-lived', () => {
  let now = Date.parse('2026-11-22T12:00:00Z');
  const drafts = new FormDrafts('a session secret of at least thirty-two characters', () => new Date(now));
  const sealed = drafts.seal('/keys', { name: 'k', password: 'p', newPassword: 'p', _csrf: 't', secret: 's', allowedModels: ['a', 'b'] }) as string;
  expect(drafts.open(sealed)).toEqual({ page: '/keys/new', values: { name: 'k', allowedModels: ['a', 'b'] } });
  expect(new FormDrafts('another session secret, also thirty-two characters', () => new Date(now)).open(sealed)).toBeNull();
  expect(drafts.seal('/keys/AbCd1234EfGh/revoke', { name: 'k' })).toBeNull();
  expect(drafts.pageFor('/keys/AbCd1234EfGh/edit')).toBe('/keys/AbCd1234EfGh/edit');
  now += 2 * 3_600_000 + 1;
  expect(drafts.open(sealed)).toBeNull();
  expect(drafts.open('garbage')).toBeNull();
  expect(drafts.open(undefined)).toBeNull();
});
