/**
 * Limits above keys on the dashboard (issue 11): the tenant's Limits section on Settings (saved,
 * shown, cleared, refused with every value kept), each member's own limits on the Members page
 * and their page, both only for the people who manage the tenant, and the overview's budget bar
 * once something is spent.
 */
import request from 'supertest';
import { formatCents } from '../../src/dashboard/format';
import { chatBody } from '../helpers/app';
import { testActor } from '../helpers/context';
import { type Agent, createWorld, decode, fieldError, fieldValue, post, signedIn, type World } from './dashboard-helpers';

/** The Limits section of the settings page (or of the page a refused form comes back to). */
const limitsSection = (html: string) => /<section class="card" aria-labelledby="limits-title">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
/** The text of some HTML: tags stripped, entities decoded, spaces collapsed. */
const words = (html: string) => decode(html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
/** The members table row of a person. */
const rowOf = (html: string, email: string) => new RegExp(`<tr>\\s*<td data-label="Person">${email.replace(/[.]/g, '\\.')}[\\s\\S]*?</tr>`).exec(html)?.[0] ?? '';

const NO_WINDOWS = { rateLimits: { perMinute: null, perHour: null, perDay: null, perMonth: null }, tokenLimits: { perMinute: null, perDay: null } };

describe('tenant limits on the settings page', () => {
  let w: World;
  let owner: Agent;
  beforeAll(async () => {
    w = await createWorld();
    owner = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  const saved = {
    budgetPeriod: 'monthly',
    budgetAmount: '$1,250.5',
    perMinute: '600',
    perHour: '',
    perDay: '10,000',
    perMonth: '',
    tokensPerMinute: '2000',
    tokensPerDay: '',
    alertThresholds: '50%, 90',
  };

  test('shows the defaults: no budget, no windows, thresholds 50, 80, 100, and a labelled form', async () => {
    const page = await owner.get('/settings').expect(200);
    const section = limitsSection(page.text);
    expect(words(section)).toContain('No tenant budget');
    expect(words(section)).toContain('Windows No request or token limit Alert thresholds 50%, 80%, 100%');
    for (const id of ['budgetPeriod', 'budgetAmount', 'perMinute', 'perHour', 'perDay', 'perMonth', 'tokensPerMinute', 'tokensPerDay', 'alertThresholds']) {
      expect(section).toContain(`<label for="f-${id}">`);
    }
    expect(section).toContain('<form method="post" action="/settings/limits"');
    expect(fieldValue(section, 'alertThresholds')).toBe('50, 80, 100');
    // The Limits section sits above Webhooks.
    expect(page.text.indexOf('id="limits-title"')).toBeLessThan(page.text.indexOf('id="webhooks-title"'));
  });

  test('saves the form: the service, the API and the page agree, and the change is audited', async () => {
    const res = await post(owner, '/settings/limits', saved, '/settings');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/settings');

    const limits = await w.ctx.levels.getTenant(w.tenant.id);
    expect(limits).toMatchObject({
      budget: { limitCents: 125_050, period: 'monthly', spentCents: 0 },
      rateLimits: { perMinute: 600, perHour: null, perDay: 10_000, perMonth: null },
      tokenLimits: { perMinute: 2000, perDay: null },
      alertThresholds: [50, 90],
    });
    const { key } = await w.issue({ scopes: ['keys:read'] });
    const api = await request(w.app).get('/api/v1/tenant').set('Authorization', `Bearer ${key}`).expect(200);
    expect(api.body).toEqual(JSON.parse(JSON.stringify(limits)));

    const audit = await w.ctx.database.prisma.auditEvent.findFirst({ where: { action: 'tenant.limits_update' } });
    expect(audit).toMatchObject({ actorType: 'user', actorId: w.owner.id, targetId: w.tenant.id });

    const page = await owner.get('/settings').expect(200);
    expect(page.text).toContain(`Saved the limits of ${w.tenant.name}.`);
    const section = limitsSection(page.text);
    const resets = limits.budget?.resetsAt?.slice(0, 10) as string;
    expect(words(section)).toContain(`Tenant budget: $0.00 of $1,250.50 spent this month (0%) $1,250.50 left. Resets on ${resets} (UTC).`);
    expect(section).toMatch(/<meter id="tenant-budget" min="0" max="125050" value="0"[^>]*aria-labelledby="tenant-budget-label">/);
    expect(words(section)).toContain('Windows 600 requests/min · 10,000 requests/day · 2,000 tokens/min Alert thresholds 50%, 90%');
    expect(section).toMatch(/<option value="monthly" selected>/);
    expect([fieldValue(section, 'budgetAmount'), fieldValue(section, 'perDay'), fieldValue(section, 'perHour'), fieldValue(section, 'alertThresholds')]).toEqual(['1250.50', '10000', '', '50, 90']);
  });

  test('blank fields clear their limits; blank thresholds mean no alerts', async () => {
    const res = await post(owner, '/settings/limits', { budgetPeriod: '', budgetAmount: '', alertThresholds: '' }, '/settings');
    expect(res.status).toBe(303);
    expect(await w.ctx.levels.getTenant(w.tenant.id)).toMatchObject({ budget: null, ...NO_WINDOWS, alertThresholds: [] });
    const section = limitsSection((await owner.get('/settings').expect(200)).text);
    expect(words(section)).toContain('Alert thresholds None: no budget or quota alerts');
  });

  test('a refused form names each bad field, keeps every typed value and changes nothing', async () => {
    await w.ctx.levels.updateTenant(w.tenant.id, { rateLimits: { perMinute: 42 } }, testActor);
    const before = await w.ctx.levels.getTenant(w.tenant.id);
    const typed = { budgetPeriod: 'monthly', budgetAmount: 'lots', perMinute: '0', perHour: 'abc', perDay: '12', tokensPerDay: '1.5', alertThresholds: '50, 150' };
    const res = await post(owner, '/settings/limits', typed, '/settings');
    expect(res.status).toBe(400);
    expect(res.text).toContain('<div class="error-summary" role="alert"');
    expect(res.text).toContain('Please fix these 5 fields');
    expect(res.text).toContain('<a href="#f-budgetAmount">Budget amount</a>');
    expect(res.text).toContain('<a href="#f-alertThresholds">Alert thresholds</a>');
    expect(fieldError(res.text, 'budgetAmount')).toBe('Must be an amount in dollars, e.g. 25 or 12.50.');
    expect(fieldError(res.text, 'perMinute')).toBe('Must be at least 1.');
    expect(fieldError(res.text, 'perHour')).toBe('Must be a number.');
    expect(fieldError(res.text, 'tokensPerDay')).toBe('Must be a whole number.');
    expect(fieldError(res.text, 'alertThresholds')).toBe('Entry 2 must be at most 100.');
    expect(fieldError(res.text, 'perDay')).toBeNull();
    expect(res.text).toMatch(/<input id="f-perHour" name="perHour" type="text" value="abc" aria-describedby="perHour-error" aria-invalid="true"/);
    for (const [name, value] of Object.entries(typed)) if (name !== 'budgetPeriod') expect({ name, value: fieldValue(res.text, name) }).toEqual({ name, value });
    expect(res.text).toMatch(/<option value="monthly" selected>/);
    expect(await w.ctx.levels.getTenant(w.tenant.id)).toEqual(before);
  });

  test('an amount without a period asks which was meant', async () => {
    const res = await post(owner, '/settings/limits', { budgetPeriod: '', budgetAmount: '20', alertThresholds: '80' }, '/settings');
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'budgetPeriod')).toBe('Choose "total" or "monthly" to set a budget, or clear the amount.');
    expect(fieldValue(res.text, 'budgetAmount')).toBe('20');
  });

  test('members see no settings page and cannot save limits (404, like every page beyond their role)', async () => {
    const member = await signedIn(w.app, w.member.email);
    const before = await w.ctx.levels.getTenant(w.tenant.id);
    const missing = await member.get('/no-such-page').expect(404);
    const page = await member.get('/settings').expect(404);
    expect(page.text).not.toContain('action="/settings/limits"');
    const res = await post(member, '/settings/limits', saved);
    expect(res.status).toBe(404);
    expect(res.text).toBe(missing.text);
    expect(await w.ctx.levels.getTenant(w.tenant.id)).toEqual(before);
  });
});

describe('member limits on the members page', () => {
  let w: World;
  let owner: Agent;
  beforeAll(async () => {
    w = await createWorld();
    owner = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  test('the list shows each member\'s own limits and links to their page', async () => {
    const list = await owner.get('/members').expect(200);
    expect(list.text).toContain('<th scope="col">Own limits</th>');
    const row = rowOf(list.text, w.member.email);
    expect(words(row)).toContain('None Limits of ' + w.member.email);
    expect(row).toContain(`href="/members/${w.member.id}/limits"`);
  });

  test('the page shows a member\'s limits and a form without alert thresholds; saving it shows in the list', async () => {
    const page = await owner.get(`/members/${w.member.id}/limits`).expect(200);
    expect(page.text).toContain(`<h1>Limits of ${w.member.email}</h1>`);
    expect(page.text).toContain('No budget of their own');
    expect(page.text).toContain(`<form method="post" action="/members/${w.member.id}/limits"`);
    expect(page.text).toContain('<label for="f-budgetAmount">');
    expect(page.text).not.toContain('name="alertThresholds"');

    const res = await post(owner, `/members/${w.member.id}/limits`, { budgetPeriod: 'total', budgetAmount: '5', perDay: '100', tokensPerMinute: '1,000' }, `/members/${w.member.id}/limits`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/members');
    expect(await w.ctx.levels.getOwner(w.tenant.id, w.member.id)).toMatchObject({
      budget: { limitCents: 500, period: 'total', spentCents: 0, resetsAt: null },
      rateLimits: { perMinute: null, perHour: null, perDay: 100, perMonth: null },
      tokenLimits: { perMinute: 1000, perDay: null },
    });
    const audit = await w.ctx.database.prisma.auditEvent.findFirst({ where: { action: 'owner.limits_update' } });
    expect(audit).toMatchObject({ actorId: w.owner.id, targetId: w.member.id, targetLabel: w.member.email });

    const list = await owner.get('/members').expect(200);
    expect(list.text).toContain(`Saved the limits of ${w.member.email}.`);
    expect(words(rowOf(list.text, w.member.email))).toContain('$0.00 of $5.00 100 requests/day · 1,000 tokens/min');
    // Other members are untouched.
    expect(words(rowOf(list.text, w.otherMember.email))).toContain('None');

    const again = await owner.get(`/members/${w.member.id}/limits`).expect(200);
    expect(words(again.text)).toContain('Budget: $0.00 of $5.00 spent in total (0%) $5.00 left. A total budget: it does not restart by itself.');
    expect([fieldValue(again.text, 'budgetAmount'), fieldValue(again.text, 'perDay'), fieldValue(again.text, 'tokensPerMinute')]).toEqual(['5.00', '100', '1000']);
  });

  test('a refused form keeps the values, names the field and changes nothing', async () => {
    const before = await w.ctx.levels.getOwner(w.tenant.id, w.otherMember.id);
    const res = await post(owner, `/members/${w.otherMember.id}/limits`, { budgetPeriod: 'monthly', budgetAmount: '3', tokensPerDay: '-5' }, `/members/${w.otherMember.id}/limits`);
    expect(res.status).toBe(400);
    expect(res.text).toContain('<a href="#f-tokensPerDay">Tokens per day</a>');
    expect(fieldError(res.text, 'tokensPerDay')).toBe('Must be at least 1.');
    expect([fieldValue(res.text, 'budgetAmount'), fieldValue(res.text, 'tokensPerDay')]).toEqual(['3', '-5']);
    expect(await w.ctx.levels.getOwner(w.tenant.id, w.otherMember.id)).toEqual(before);
  });

  test('another tenant\'s user, or an unknown id, is 404 and nothing changes', async () => {
    const missing = await owner.get('/members/ZZZZZZZZZZZZZZZZ/limits').expect(404);
    const page = await owner.get(`/members/${w.outsider.id}/limits`).expect(404);
    expect(page.text).toBe(missing.text);
    const res = await post(owner, `/members/${w.outsider.id}/limits`, { budgetPeriod: 'monthly', budgetAmount: '1' });
    expect(res.status).toBe(404);
    expect(res.text).toBe(missing.text);
    expect((await w.ctx.levels.getOwner(w.other.id, w.outsider.id)).budget).toBeNull();
    expect(await w.ctx.database.prisma.levelLimit.count({ where: { userId: w.outsider.id } })).toBe(0);
  });

  test('members can neither see nor change anyone\'s limits, their own included', async () => {
    const member = await signedIn(w.app, w.member.email);
    await member.get(`/members/${w.member.id}/limits`).expect(404);
    const res = await post(member, `/members/${w.member.id}/limits`, { budgetPeriod: '', perDay: '' });
    expect(res.status).toBe(404);
    expect((await w.ctx.levels.getOwner(w.tenant.id, w.member.id)).rateLimits.perDay).toBe(100);
  });
});

describe('the overview\'s budget bar', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('shows nothing while the tenant has no budget', async () => {
    const owner = await signedIn(w.app, w.owner.email);
    const page = await owner.get('/').expect(200);
    expect(page.text).not.toContain('Tenant budget');
    expect(page.text).not.toContain('id="overview-budget"');
    expect(page.text).toContain('Most used keys this month');
  });

  test('shows what the tenant spent this month against its budget, in words and as a labelled meter', async () => {
    await w.ctx.levels.updateTenant(w.tenant.id, { budget: { limitCents: 1000, period: 'monthly' } }, testActor);
    const { key } = await w.issue({ ownerId: w.member.id });
    for (let i = 0; i < 3; i++) {
      await request(w.app).post('/api/v1/chat/completions').set('Authorization', `Bearer ${key}`).send(chatBody()).expect(200);
    }
    await w.ctx.usage.flush();
    const spent = (await w.ctx.levels.getTenant(w.tenant.id)).budget?.spentCents as number;
    expect(spent).toBeGreaterThan(0);

    const owner = await signedIn(w.app, w.owner.email);
    const page = await owner.get('/').expect(200);
    expect(words(page.text)).toContain(`Tenant budget: ${formatCents(spent)} of $10.00 spent this month`);
    expect(page.text).toMatch(/<meter id="overview-budget" min="0" max="1000" value="[0-9.]+"[^>]*aria-labelledby="overview-budget-label">/);
    expect(page.text).toContain('<p id="overview-budget-label">');
    // The rest of the page is still there.
    expect(page.text).toContain('Most used keys this month');
  });

  test('members see their own budget, not the tenant\'s', async () => {
    const member = await signedIn(w.app, w.member.email);
    expect((await member.get('/').expect(200)).text).not.toContain('budget:');
    await w.ctx.levels.updateOwner(w.tenant.id, w.member.id, { budget: { limitCents: 300, period: 'total' } }, testActor);
    const page = await member.get('/').expect(200);
    expect(words(page.text)).toMatch(/Your budget: \$0\.0\d+ of \$3\.00 spent in total/);
    expect(page.text).not.toContain('Tenant budget');
  });
});
