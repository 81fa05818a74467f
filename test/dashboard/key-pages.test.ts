/**
 * What a person noticed in the key pages (issue 10, item 7), each fixed and held here: a typed
 * expiry the chosen option would ignore, tier placeholders, future reset times, the list's page
 * jump and pages past the end, Created/Expires columns and the expiry filter (with the overview's
 * "see all"), a case-insensitive tag filter, "would this request pass?" agreeing with /api about
 * models, the overview's empty chart, and money precise enough for LLM-sized spend.
 */
import { availableProviders } from '../helpers/databases';
import { buildUsageEvent } from '../helpers/usage-events';
import { createWorld, fieldError, post, signedIn, type Agent, type World } from './dashboard-helpers';

const DAY = 86_400_000;
const names = (html: string) => [...html.matchAll(/class="key-name" href="\/keys\/[^"]+">([^<]+)</g)].map((m) => m[1]);

describe('the key form', () => {
  let w: World;
  let agent: Agent;
  beforeAll(async () => {
    w = await createWorld();
    agent = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  test('a number of days typed while "Never expires" is chosen is refused with a message, not ignored', async () => {
    const count = await w.ctx.database.prisma.apiKey.count();
    const res = await post(agent, '/keys', { name: 'ninety days?', expiry: 'never', expiresInDays: '90' }, '/keys/new');
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'expiry')).toBe(
      'You typed 90 days but chose "Never expires": choose "Expires after a number of days", or clear the days.',
    );
    expect(res.text).toMatch(/name="expiresInDays"[^>]*value="90"/);
    expect(await w.ctx.database.prisma.apiKey.count()).toBe(count);

    // Chosen and typed agree: the key expires in 90 days.
    const ok = await post(agent, '/keys', { name: 'ninety days', expiry: 'days', expiresInDays: '90' }, '/keys/new');
    expect(ok.status).toBe(302);
    const key = (await w.ctx.keys.list(w.tenant.id, { search: 'ninety days' })).data[0];
    expect(Math.abs((key.expiresAt as Date).getTime() - (Date.now() + 90 * DAY))).toBeLessThan(60_000);

    // A date typed with "Keep as it is" on edit is refused too; the prefilled current date is not "typed".
    const edit = `/keys/${key.id}/edit`;
    const current = (key.expiresAt as Date).toISOString().slice(0, 16);
    const unchanged = { name: 'ninety days', scopes: 'api', expiry: 'keep' };
    expect((await post(agent, edit, { ...unchanged, expiresAt: current }, edit)).status).toBe(302);
    const changed = await post(agent, edit, { ...unchanged, expiresAt: '2030-01-01T00:00' }, edit);
    expect(changed.status).toBe(400);
    expect(fieldError(changed.text, 'expiry')).toMatch(/^You typed the date 2030-01-01 00:00 but chose "Keep as it is"/);
  });

  test('rate-limit placeholders do not claim one tier\'s values: every tier is listed, and the script follows the choice', async () => {
    const page = await agent.get('/keys/new').expect(200);
    for (const name of ['perMinute', 'perHour', 'perDay', 'perMonth']) {
      expect(page.text).toMatch(new RegExp(`id="f-${name}"[^>]*placeholder="tier default"[^>]*data-tier-limit="${name}"`));
    }
    expect(page.text).toContain('free 10/min, 100/hour, 1,000/day, 10,000/month; pro 100/min, 2,000/hour, 25,000/day, 500,000/month; enterprise 1,000/min');
    expect(page.text).toMatch(/<option value="pro" data-limits="100 2000 25000 500000">/);
  });
});

describe('the key page', () => {
  let w: World;
  let agent: Agent;
  beforeAll(async () => {
    w = await createWorld();
    agent = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  test('a window that resets in 23 s reads "in 23 s", not "just now"', async () => {
    const { apiKey } = await w.issue({ name: 'windows' });
    const peek = jest.spyOn(w.ctx.limits.rateWindows, 'peek').mockResolvedValue([
      { window: 'minute', limit: 10, used: 3, remaining: 7, resetMs: 23_000 },
      { window: 'hour', limit: 100, used: 3, remaining: 97, resetMs: 40 * 60_000 },
      { window: 'day', limit: 1000, used: 0, remaining: 1000, resetMs: DAY },
      { window: 'month', limit: 10000, used: 0, remaining: 10000, resetMs: 20 * DAY },
    ]);
    try {
      const res = await agent.get(`/keys/${apiKey.id}`).expect(200);
      const row = (label: string) => new RegExp(`<th scope="row">${label}</th>(?:(?!</tr>)[\\s\\S])*</tr>`).exec(res.text)?.[0] ?? '';
      expect(row('Minute')).toMatch(/<time [^>]*>in 23 s<\/time>/);
      expect(row('Hour')).toMatch(/<time [^>]*>in 40 minutes<\/time>/);
      expect(row('Minute')).not.toContain('just now');
    } finally {
      peek.mockRestore();
    }
  });

  test('"would this request pass?" refuses what /api refuses: no model (400) and an unknown model (404)', async () => {
    const { apiKey } = await w.issue({ name: 'checker' });
    const empty = await agent.get(`/keys/${apiKey.id}?ip=10.0.0.1&model=`).expect(200);
    expect(empty.text).toMatch(/<strong>Refused<\/strong> at Request: The request names no model/);
    expect(empty.text).toContain('400 invalid_request');
    const unknown = await agent.get(`/keys/${apiKey.id}?ip=10.0.0.1&model=gpt-unknown`).expect(200);
    expect(unknown.text).toContain('404 model_not_found');
    expect(unknown.text).not.toContain('Would pass');
    const known = await agent.get(`/keys/${apiKey.id}?ip=10.0.0.1&model=local-small`).expect(200);
    expect(known.text).toContain('<strong>Would pass</strong> every check.');
  });

  test('spend and budgets show LLM-sized amounts, on the key page, the list and the overview', async () => {
    const { apiKey } = await w.issue({ name: 'tiny spender', budget: { limitCents: 500, period: 'monthly' } });
    // Three requests of 0.01578 cents (15,780 micro-cents) each.
    for (let i = 0; i < 3; i++) {
      w.ctx.usage.record(buildUsageEvent({ keyId: apiKey.id, tenantId: w.tenant.id, tokens: 100, costMicroCents: 15_780, budgetPeriodStart: null }));
    }
    await w.ctx.usage.flush();
    const detail = await agent.get(`/keys/${apiKey.id}`).expect(200);
    expect(detail.text).toContain('$0.000473'); // 47,340 micro-cents
    expect(detail.text).toContain('$5.00 per month');
    expect(detail.text).not.toContain('&lt; $0.01');
    const overview = await agent.get('/').expect(200);
    expect(overview.text).toMatch(/<span class="stat-value">\$0\.000473<\/span><span class="stat-label">Spend this month/);
    const list = await agent.get('/keys?q=tiny').expect(200);
    expect(list.text).toContain('of $5.00/mo');
  });
});

describe.each(availableProviders)('the key list on %s', (provider) => {
  let w: World;
  let agent: Agent;
  beforeAll(async () => {
    w = await createWorld({ provider });
    const soon = (days: number) => new Date(Date.now() + days * DAY).toISOString();
    for (let i = 1; i <= 12; i++) await w.issue({ name: `soon-${String(i).padStart(2, '0')}`, expiresAt: soon(i / 2) });
    await w.issue({ name: 'in-20-days', expiresAt: soon(20), tags: ['Production'] });
    await w.issue({ name: 'in-60-days', expiresAt: soon(60), tags: ['production'] });
    const revoked = await w.issue({ name: 'revoked-soon', expiresAt: soon(2), tags: ['PRODUCTION'] });
    await w.ctx.keys.revoke(w.tenant.id, revoked.apiKey.id, { type: 'system', id: null, label: 'test' });
    await w.issue({ name: 'other-tag', tags: ['prod'] });
    agent = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  test('Created and Expires columns', async () => {
    const res = await agent.get('/keys?q=in-20-days').expect(200);
    expect(res.text).toContain('<th scope="col">Created</th>');
    expect(res.text).toContain('<th scope="col">Expires</th>');
    expect(res.text).toMatch(/<td data-label="Created"><time [^>]*>just now<\/time><\/td>/);
    expect(res.text).toMatch(/<td data-label="Expires"><time [^>]*>in 20 days<\/time><\/td>/);
    const never = await agent.get('/keys?q=other-tag').expect(200);
    expect(never.text).toMatch(/<td data-label="Expires"><span class="muted">never<\/span><\/td>/);
  });

  test('the expiry filter: within 7 / 30 days (working keys only), never, expired', async () => {
    const within7 = names((await agent.get('/keys?expires=7d&sort=expiring&size=50')).text);
    expect(within7).toEqual(Array.from({ length: 12 }, (_, i) => `soon-${String(i + 1).padStart(2, '0')}`));
    expect(names((await agent.get('/keys?expires=30d&sort=expiring&size=50')).text)).toEqual([...within7, 'in-20-days']);
    const never = names((await agent.get('/keys?expires=never&size=50')).text);
    expect(never).toContain('other-tag');
    expect(never).not.toContain('in-60-days');
    expect(names((await agent.get('/keys?expires=expired')).text)).toEqual([]);
    // Sorting by expiry puts keys without one last, on every database.
    const sorted = names((await agent.get('/keys?sort=expiring&size=100')).text);
    expect(sorted.slice(0, 2)).toEqual(['soon-01', 'soon-02']);
    expect(sorted.indexOf('in-60-days')).toBeLessThan(sorted.indexOf('other-tag'));
  });

  test('the overview lists 10 keys expiring within 7 days, then "see all" opens that filter', async () => {
    const overview = await agent.get('/').expect(200);
    const listed = [...overview.text.matchAll(/<a href="\/keys\/[A-Za-z0-9]{12}">(soon-\d\d)<\/a>\s*expires/g)].map((m) => m[1]);
    expect(listed).toEqual(Array.from({ length: 10 }, (_, i) => `soon-${String(i + 1).padStart(2, '0')}`));
    expect(overview.text).toContain('<a href="/keys?expires=7d&amp;sort=expiring">See all 12 keys expiring within 7 days</a>');
    const all = await agent.get('/keys?expires=7d&sort=expiring').expect(200);
    expect(names(all.text)).toHaveLength(12);
  });

  test('the tag filter ignores case, on its index', async () => {
    for (const tag of ['production', 'PRODUCTION', 'Production']) {
      expect(names((await agent.get(`/keys?tag=${tag}&sort=name`)).text)).toEqual(['in-20-days', 'in-60-days', 'revoked-soon']);
    }
    expect(names((await agent.get('/keys?tag=PROD')).text)).toEqual(['other-tag']);
    // The filter reads api_key_tags through (tenantId, tagLower), on both databases.
    const db = w.ctx.database.prisma;
    const plan =
      provider === 'sqlite'
        ? (await db.$queryRawUnsafe<{ detail: string }[]>('EXPLAIN QUERY PLAN SELECT "keyId" FROM "api_key_tags" WHERE "tenantId" = ? AND "tagLower" = ?', w.tenant.id, 'production')).map((row) => row.detail)
        : // A table this small is cheaper to scan: ask PostgreSQL what it would do when it may not.
          await db.$transaction(async (tx) => {
            await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
            const rows = await tx.$queryRawUnsafe<{ 'QUERY PLAN': string }[]>('EXPLAIN SELECT "keyId" FROM "api_key_tags" WHERE "tenantId" = $1 AND "tagLower" = $2', w.tenant.id, 'production');
            return rows.map((row) => row['QUERY PLAN']);
          });
    expect(plan.join(' ')).toContain('api_key_tags_tenantId_tagLower_keyId_idx');
  });

  test('a page jump, and a page past the end says so instead of "2,021–2,020 of 2,020"', async () => {
    const first = await agent.get('/keys?size=10').expect(200);
    expect(first.text).toMatch(/<form method="get" action="\/keys" class="page-jump">\s*<input type="hidden" name="size" value="10">/);
    expect(first.text).toMatch(/<input id="page-jump-key" name="page" type="number" inputmode="numeric" min="1" max="2" value="1">/);
    const beyond = await agent.get('/keys?size=10&page=102').expect(200);
    expect(beyond.text).not.toMatch(/Showing [\d,]+–/);
    expect(beyond.text).toContain('There is no page 102');
    expect(beyond.text).toContain('<a href="/keys?size=10&amp;page=2">Go to the last page (2)</a>');
    const last = await agent.get('/keys?size=10&page=2').expect(200);
    expect(last.text).toContain('Showing 11–');
  });
});

describe('the overview chart', () => {
  let w: World;
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(() => w.close());

  test('an empty chart names whose requests it counts', async () => {
    const owner = await signedIn(w.app, w.owner.email);
    const tenantView = await owner.get('/').expect(200);
    expect(tenantView.text).toContain(`Requests made with the keys of ${w.tenant.name} appear here`);
    expect(tenantView.text).not.toContain('this key');
    const member = await signedIn(w.app, w.member.email);
    expect((await member.get('/').expect(200)).text).toContain('Requests made with your keys appear here');
    const key = await owner.get(`/keys/${w.keys.member.id}`).expect(200);
    expect(key.text).toContain('Requests made with this key appear here');
  });
});
