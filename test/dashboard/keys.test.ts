/**
 * Key pages through the HTTP layer: create with every option (and the audit actor), validation
 * re-rendered beside each field with values kept, the one-time secret page, edit, every action
 * behind its confirmation step, list filters/search/sort/pagination, and "would this pass?".
 */
import { availableProviders } from '../helpers/databases';
import { createWorld, fieldError, fieldValue, form, formBody, post, signedIn, type Agent, type World } from './dashboard-helpers';
import { buildUsageEvent } from '../helpers/usage-events';

const DAY = 86_400_000;

describe.each(availableProviders)('creating and editing keys on %s', (provider) => {
  let w: World;
  let agent: Agent;
  beforeAll(async () => {
    w = await createWorld({ provider });
    agent = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  const full = () => ({
    name: 'billing prod',
    description: 'Calls from the billing service',
    tags: 'production, billing',
    ownerId: w.member.id,
    metadata: '{"team": "billing"}',
    scopes: 'api, keys:read',
    allowedIps: '10.0.0.0/8\n203.0.113.7',
    allowedModels: ['local-small', 'local-large'],
    allowedChatbots: 'helpdesk, sales',
    tier: 'pro',
    perMinute: '1,000',
    perHour: '',
    perDay: '20000',
    perMonth: '',
    usageLimit: '50000',
    budgetPeriod: 'monthly',
    budgetAmount: '12.34',
    expiry: 'days',
    expiresInDays: '90',
  });

  test('the form has every option, grouped, each input labelled', async () => {
    const res = await agent.get('/keys/new').expect(200);
    for (const legend of ['Basics', 'Access', 'Limits', 'Budget', 'Expiry']) expect(res.text).toContain(`<legend>${legend}</legend>`);
    const ids = [...res.text.matchAll(/<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"/g)].map((m) => m[1]);
    const unlabeled = [...res.text.matchAll(/<(?:input|select|textarea)\b(?![^>]*type="hidden")[^>]*>/g)]
      .map((m) => m[0])
      .filter((tag) => {
        const id = /\bid="([^"]+)"/.exec(tag)?.[1];
        const wrapped = /type="(checkbox|radio)"/.test(tag); // inside their <label>
        return !wrapped && (!id || !res.text.includes(`for="${id}"`));
      });
    expect(ids.length).toBeGreaterThan(15);
    expect(unlabeled).toEqual([]);
  });

  test('creates a key with every option; the actor is the signed-in person with IP and browser', async () => {
    const { csrf } = await form(agent, '/keys/new');
    const res = await agent.post('/keys').set('User-Agent', 'KeywardTest/1.0').type('form').send(formBody({ ...full(), _csrf: csrf }));
    expect(res.status).toBe(302);
    const id = /^\/keys\/([A-Za-z0-9]+)\/secret$/.exec(res.headers.location as string)?.[1] as string;
    const key = await w.ctx.keys.get(w.tenant.id, id);
    expect(key).toMatchObject({
      name: 'billing prod',
      description: 'Calls from the billing service',
      tags: ['billing', 'production'],
      ownerId: w.member.id,
      metadata: { team: 'billing' },
      scopes: ['api', 'keys:read'],
      allowedIps: ['10.0.0.0/8', '203.0.113.7'],
      allowedModels: ['local-small', 'local-large'],
      allowedChatbots: ['helpdesk', 'sales'],
      tier: 'pro',
      rateLimits: { perMinute: 1000, perHour: null, perDay: 20000, perMonth: null },
      usageLimit: 50000,
      budget: { limitCents: 1234, period: 'monthly' },
    });
    expect(Math.abs((key.expiresAt as Date).getTime() - (Date.now() + 90 * DAY))).toBeLessThan(60_000);

    const event = await w.ctx.database.prisma.auditEvent.findFirst({ where: { targetId: id, action: 'key.create' } });
    expect(event).toMatchObject({ actorType: 'user', actorId: w.owner.id, actorLabel: w.owner.email, ip: '127.0.0.1' });
    expect(event?.userAgent).toBe('KeywardTest/1.0');
  });

  test('invalid input re-renders the form with a message beside each bad field and every value kept', async () => {
    const count = await w.ctx.database.prisma.apiKey.count();
    const bad = {
      ...full(),
      name: '',
      description: 'kept description',
      metadata: '{not json',
      allowedIps: '10.0.0.0/8\nnot-an-ip',
      perMinute: '0',
      perDay: 'lots',
      budgetAmount: '12.345',
      expiresInDays: '400',
      scopes: 'API!',
    };
    const res = await post(agent, '/keys', bad, '/keys/new');
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'name')).toBe('Must not be blank.');
    expect(fieldError(res.text, 'metadata')).toBe('Must be a JSON object, e.g. {"team": "search"}.');
    expect(fieldError(res.text, 'allowedIps')).toBe('"not-an-ip" is not an IPv4/IPv6 address or CIDR range.');
    expect(fieldError(res.text, 'perMinute')).toBe('Must be at least 1.');
    expect(fieldError(res.text, 'perDay')).toBe('Must be a number.');
    expect(fieldError(res.text, 'budgetAmount')).toBe('Must be an amount in dollars, e.g. 25 or 12.50.');
    expect(fieldError(res.text, 'expiresInDays')).toBe('Must be at most 365.');
    expect(fieldError(res.text, 'scopes')).toMatch(/^Entry 1 must be lower-case letters/);
    expect(fieldError(res.text, 'tags')).toBeNull();
    expect(res.text).toContain('Please fix these 8 fields');
    // Messages are tied to their inputs for assistive technology.
    expect(res.text).toMatch(/id="f-perMinute"[^>]*aria-describedby="perMinute-error"[^>]*aria-invalid="true"/);

    expect(fieldValue(res.text, 'description')).toBe('kept description');
    expect(fieldValue(res.text, 'metadata')).toBe('{not json');
    expect(fieldValue(res.text, 'allowedIps')).toBe('10.0.0.0/8\nnot-an-ip');
    expect(fieldValue(res.text, 'perMinute')).toBe('0');
    expect(fieldValue(res.text, 'perDay')).toBe('lots');
    expect(fieldValue(res.text, 'budgetAmount')).toBe('12.345');
    expect(fieldValue(res.text, 'tags')).toBe('production, billing');
    expect(res.text).toMatch(/value="local-large" id="f-model-1" checked/);
    expect(res.text).toMatch(/<option value="monthly" selected>/);
    expect(res.text).toMatch(/<option value="pro" selected[ >]/);
    expect(res.text).toMatch(/name="expiry" value="days" checked/);
    expect(await w.ctx.database.prisma.apiKey.count()).toBe(count);
  });

  test('a budget needs both a period and an amount', async () => {
    const res = await post(agent, '/keys', { name: 'half a budget', budgetPeriod: '', budgetAmount: '5' }, '/keys/new');
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'budgetPeriod')).toMatch(/^Choose "total" or "monthly"/);
  });

  test('the one-time secret page: no-store, shown once, never on another key, not stored in clear', async () => {
    const created = await post(agent, '/keys', { name: 'one time' }, '/keys/new');
    const secretPath = created.headers.location as string;
    const id = secretPath.split('/')[2];

    // The waiting secret is sealed in the session row, not readable there.
    const rows = await w.ctx.database.prisma.session.findMany({ where: { userId: w.owner.id } });
    const page = await agent.get(`/keys/${w.keys.member.id}/secret`).expect(200);
    expect(page.text).toContain('The secret was shown already');

    const first = await agent.get(secretPath).expect(200);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.headers.etag).toBeUndefined();
    const secret = /id="secret"[^>]*value="([^"]+)"/.exec(first.text)?.[1];
    expect(secret).toMatch(new RegExp(`^kw_${id}_`));
    expect(first.text).toContain('this is the only time it is shown');
    expect(first.text).toContain('data-copy-target="secret"');
    for (const row of rows) expect(row.data).not.toContain(secret as string);
    expect((await w.ctx.keys.verify(secret as string)).ok).toBe(true);

    const again = await agent.get(secretPath).expect(200);
    expect(again.headers['cache-control']).toBe('no-store');
    expect(again.text).not.toContain(secret as string);
    expect(again.text).toContain('The secret was shown already');
  });

  test('editing keeps what is not changed and re-renders errors', async () => {
    const page = await agent.get(`/keys/${w.keys.member.id}/edit`).expect(200);
    expect(fieldValue(page.text, 'name')).toBe(w.keys.member.name);
    const bad = await post(agent, `/keys/${w.keys.member.id}/edit`, { name: 'x'.repeat(101), expiry: 'keep' }, `/keys/${w.keys.member.id}/edit`);
    expect(bad.status).toBe(400);
    expect(fieldError(bad.text, 'name')).toBe('Must be at most 100 characters.');
    expect((await w.ctx.keys.get(w.tenant.id, w.keys.member.id)).name).toBe(w.keys.member.name);

    const ok = await post(
      agent,
      `/keys/${w.keys.member.id}/edit`,
      { name: 'renamed', scopes: 'api', tier: 'enterprise', expiry: 'keep', ownerId: w.member.id, allowedIps: '192.0.2.0/24' },
      `/keys/${w.keys.member.id}/edit`,
    );
    expect(ok.status).toBe(302);
    expect(ok.headers.location).toBe(`/keys/${w.keys.member.id}`);
    const key = await w.ctx.keys.get(w.tenant.id, w.keys.member.id);
    expect(key).toMatchObject({ name: 'renamed', tier: 'enterprise', allowedIps: ['192.0.2.0/24'], ownerId: w.member.id });
    const detail = await agent.get(ok.headers.location as string).expect(200);
    expect(detail.text).toContain('Saved the changes to renamed.');
  });
});

describe('key actions behind a confirmation step', () => {
  let w: World;
  let agent: Agent;
  let id: string;
  beforeAll(async () => {
    w = await createWorld();
    agent = await signedIn(w.app, w.owner.email);
    id = (await w.issue({ name: 'actions' })).apiKey.id;
  });
  afterAll(() => w.close());

  const status = async () => (await w.ctx.keys.get(w.tenant.id, id)).status;

  test('every action has a confirmation page with a POST form', async () => {
    for (const action of ['revoke', 'deactivate', 'regenerate', 'rotate', 'reset-usage', 'delete']) {
      const page = await agent.get(`/keys/${id}/${action}`).expect(200);
      expect(page.text).toContain(`<form method="post" action="/keys/${id}/${action}"`);
    }
    const rotate = await agent.get(`/keys/${id}/rotate`);
    for (const grace of ['0', '3600', '86400', '604800']) expect(rotate.text).toContain(`name="grace" value="${grace}"`);
    expect(await status()).toBe('active');
  });

  test('deactivate, activate, regenerate, rotate with grace, reset usage, revoke, delete', async () => {
    expect((await post(agent, `/keys/${id}/deactivate`)).status).toBe(302);
    expect(await status()).toBe('inactive');
    const activatePage = await agent.get(`/keys/${id}/activate`).expect(200);
    expect(activatePage.text).toContain('Activate key');
    expect((await post(agent, `/keys/${id}/activate`)).status).toBe(302);
    expect(await status()).toBe('active');

    const regenerated = await post(agent, `/keys/${id}/regenerate`);
    expect(regenerated.headers.location).toBe(`/keys/${id}/secret`);
    const regeneratedPage = await agent.get(`/keys/${id}/secret`).expect(200);
    expect(regeneratedPage.text).toContain('The previous secret no longer works.');

    const rotated = await post(agent, `/keys/${id}/rotate`, { grace: '3600' });
    expect(rotated.headers.location).toBe(`/keys/${id}/secret`);
    const key = await w.ctx.keys.get(w.tenant.id, id);
    expect(Math.abs((key.previousSecretExpiresAt as Date).getTime() - (Date.now() + 3_600_000))).toBeLessThan(60_000);
    const rotatedPage = await agent.get(`/keys/${id}/secret`).expect(200);
    expect(rotatedPage.text).toContain('The previous secret keeps working until');
    expect((await post(agent, `/keys/${id}/rotate`, { grace: '12' })).status).toBe(400);

    expect((await post(agent, `/keys/${id}/reset-usage`)).status).toBe(302);
    expect((await post(agent, `/keys/${id}/revoke`)).status).toBe(302);
    expect(await status()).toBe('revoked');
    const activateRevoked = await post(agent, `/keys/${id}/activate`);
    expect(activateRevoked.status).toBe(409);
    expect(activateRevoked.text).toContain('a revoked key cannot be activated');
    expect((await agent.get(`/keys/${id}/activate`)).text).toContain('this action does not apply');

    const deleted = await post(agent, `/keys/${id}/delete`);
    expect(deleted.headers.location).toBe('/keys');
    expect(await w.ctx.keys.findById(id)).toBeNull();
    await agent.get(`/keys/${id}`).expect(404);

    const actions = (await w.ctx.database.prisma.auditEvent.findMany({ where: { targetId: id }, orderBy: { id: 'asc' } })).map((e) => [e.action, e.actorId]);
    expect(actions).toEqual(
      ['key.create', 'key.deactivate', 'key.activate', 'key.regenerate', 'key.rotate', 'key.reset_usage', 'key.revoke', 'key.delete'].map((a, i) => [a, i === 0 ? null : w.owner.id]),
    );
  });
});

describe.each(availableProviders)('the key list on %s', (provider) => {
  let w: World;
  let agent: Agent;
  beforeAll(async () => {
    w = await createWorld({ provider });
    for (let i = 1; i <= 25; i++) {
      await w.issue({ name: `svc-${String(i).padStart(2, '0')}`, tags: [i % 2 ? 'odd' : 'even'], description: i === 7 ? 'the lucky one' : '', ownerId: i <= 5 ? w.member.id : null, budget: i === 3 ? { limitCents: 1234, period: 'total' } : null });
    }
    const revoked = await w.issue({ name: 'svc-revoked' });
    await w.ctx.keys.revoke(w.tenant.id, revoked.apiKey.id, { type: 'system', id: null, label: 'test' });
    agent = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  const names = (html: string) => [...html.matchAll(/class="key-name" href="\/keys\/[^"]+">([^<]+)</g)].map((m) => m[1]);

  test('paginates on the server and keeps filters in the links', async () => {
    const first = await agent.get('/keys?sort=name&tag=odd&size=10').expect(200);
    expect(names(first.text)).toEqual(['svc-01', 'svc-03', 'svc-05', 'svc-07', 'svc-09', 'svc-11', 'svc-13', 'svc-15', 'svc-17', 'svc-19']);
    expect(first.text).toContain('Showing 1–10 of 13 keys · page 1 of 2');
    expect(first.text).toContain('href="/keys?tag=odd&amp;sort=name&amp;size=10&amp;page=2"');
    const second = await agent.get('/keys?tag=odd&sort=name&size=10&page=2').expect(200);
    expect(names(second.text)).toEqual(['svc-21', 'svc-23', 'svc-25']);
  });

  test('filters by status, owner and tag, searches name and description, sorts', async () => {
    expect(names((await agent.get('/keys?status=revoked')).text)).toEqual(['svc-revoked']);
    expect(names((await agent.get(`/keys?owner=${w.member.id}&sort=name`)).text)).toEqual(['member key', 'svc-01', 'svc-02', 'svc-03', 'svc-04', 'svc-05']);
    expect(names((await agent.get('/keys?q=lucky')).text)).toEqual(['svc-07']);
    expect(names((await agent.get('/keys?q=SVC-2&sort=name-desc')).text)).toEqual(['svc-25', 'svc-24', 'svc-23', 'svc-22', 'svc-21', 'svc-20']);
    const none = await agent.get('/keys?q=nothing-like-this').expect(200);
    expect(none.text).toContain('No keys match these filters');
    // Nonsense in the query falls back to defaults rather than failing.
    await agent.get('/keys?page=-3&size=7&sort=evil&status=weird').expect(200);
  });

  test('rows show status, owner, prefix and last 4, requests today and the budget', async () => {
    const res = await agent.get('/keys?q=svc-03').expect(200);
    const key = (await w.ctx.keys.list(w.tenant.id, { search: 'svc-03' })).data[0];
    expect(res.text).toContain(`<code class="key-prefix">kw_${key.id}…${key.last4}</code>`);
    expect(res.text).toContain('<span class="badge badge-active">Active</span>');
    expect(res.text).toContain(w.member.email);
    expect(res.text).toContain('$0.00 of $12.34');
    expect(res.text).toMatch(/<meter min="0" max="1234" value="0"/);
  });

  test('an empty tenant says what to do next', async () => {
    const fresh = await signedIn(w.app, w.outsider.email);
    await w.ctx.keys.delete(w.other.id, w.keys.otherTenant.id, { type: 'system', id: null, label: 'test' });
    const res = await fresh.get('/keys').expect(200);
    expect(res.text).toContain('Create your first key');
    const overview = await fresh.get('/').expect(200);
    expect(overview.text).toContain('No keys yet');
  });
});

describe('key detail', () => {
  let w: World;
  let agent: Agent;
  let id: string;
  beforeAll(async () => {
    w = await createWorld();
    agent = await signedIn(w.app, w.owner.email);
    id = (await w.issue({ name: 'detailed', allowedIps: ['10.0.0.0/8'], allowedModels: ['local-small'], usageLimit: 2000, budget: { limitCents: 123456, period: 'monthly' } })).apiKey.id;
    // 1,234 requests today, some failed, with spend.
    const now = Date.now();
    w.ctx.usage.record(buildUsageEvent({ keyId: id, tenantId: w.tenant.id, tokens: 5000, costMicroCents: 1_234_000_000, at: now }));
    for (let i = 0; i < 1233; i++) w.ctx.usage.record(buildUsageEvent({ keyId: id, tenantId: w.tenant.id, ok: i % 100 !== 0, tokens: 1, costMicroCents: 0, at: now }));
    await w.ctx.usage.flush();
  });
  afterAll(() => w.close());

  test('shows usage numbers formatted, charts, budget with reset time, rate windows and recent events', async () => {
    const res = await agent.get(`/keys/${id}`).expect(200);
    expect(res.text).toMatch(/<td class="num" data-label="Requests OK">1,221<\/td>/);
    expect(res.text).toMatch(/<td class="num" data-label="Failed">13<\/td>/);
    expect(res.text).toContain('$12.34');
    expect(res.text).toContain('<figure class="chart" id="chart-hourly">');
    expect(res.text).toContain('<figure class="chart" id="chart-daily">');
    expect(res.text).toContain('1,234 requests');
    expect(res.text).toMatch(/of \$1,234\.56 used/);
    expect(res.text).toMatch(/Monthly budget: resets <time datetime="[^"]+T00:00:00\.000Z" title="[^"]+ 00:00:00 UTC">in \d+ (days?|hours?|minutes?)<\/time>/);
    expect(res.text).toContain('Rate-limit windows');
    expect(res.text).toMatch(/<th scope="row">Minute<\/th>\s*<td class="num">10<\/td>/);
    expect(res.text).toContain('Key created');
  });

  test('"would this request pass?" names the refusing check and the API error', async () => {
    const ipRefused = await agent.get(`/keys/${id}?ip=203.0.113.5&model=local-small`).expect(200);
    expect(ipRefused.text).toMatch(/<strong>Refused<\/strong> at Client IP: 203\.0\.113\.5 is not in the allowlist/);
    expect(ipRefused.text).toContain('403 ip_not_allowed');

    const modelRefused = await agent.get(`/keys/${id}?ip=10.1.2.3&model=local-large`).expect(200);
    expect(modelRefused.text).toMatch(/Refused<\/strong> at Model: &#34;local-large&#34; is not one of the key&#39;s models/);
    expect(modelRefused.text).toContain('403 model_not_allowed');

    const passes = await agent.get(`/keys/${id}?ip=10.1.2.3&model=local-small`).expect(200);
    expect(passes.text).toContain('<strong>Would pass</strong> every check.');

    const mapped = await agent.get(`/keys/${id}?ip=${encodeURIComponent('::ffff:10.9.9.9')}&model=local-small`).expect(200);
    expect(mapped.text).toContain('Would pass');

    const bad = await agent.get(`/keys/${id}?ip=not-an-ip`).expect(200);
    expect(bad.text).toContain('Client IP must be an IPv4 or IPv6 address');

    await w.ctx.keys.deactivate(w.tenant.id, id, { type: 'system', id: null, label: 'test' });
    const inactive = await agent.get(`/keys/${id}?ip=10.1.2.3&model=local-small`).expect(200);
    expect(inactive.text).toContain('401 key_inactive');
  });
});
