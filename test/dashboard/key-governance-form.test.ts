/**
 * Token limits, concurrency, quota period and the new-IP alert on the dashboard: created and
 * edited through the form, bad values shown beside their fields with every value kept, the key
 * page and the audit log showing them in human terms.
 */
import { createWorld, fieldError, fieldValue, post, signedIn, type Agent, type World } from './dashboard-helpers';

describe('governance fields in the key form', () => {
  let w: World;
  let agent: Agent;
  beforeAll(async () => {
    w = await createWorld();
    agent = await signedIn(w.app, w.owner.email);
  });
  afterAll(() => w.close());

  const governed = {
    name: 'governed',
    tokensPerMinute: '2,000',
    tokensPerDay: '100000',
    maxConcurrentRequests: '5',
    usageLimit: '300',
    usageLimitPeriod: 'daily',
    notifyOnNewIp: 'on',
  };

  async function createThroughForm(body: Record<string, unknown>): Promise<string> {
    const res = await post(agent, '/keys', body, '/keys/new');
    expect(res.status).toBe(302);
    return /^\/keys\/([A-Za-z0-9]+)\/secret$/.exec(res.headers.location as string)?.[1] as string;
  }

  test('the form offers each field, labelled, with the quota period next to the quota', async () => {
    const page = await agent.get('/keys/new').expect(200);
    for (const id of ['tokensPerMinute', 'tokensPerDay', 'maxConcurrentRequests', 'usageLimitPeriod']) {
      expect(page.text).toContain(`<label for="f-${id}">`);
    }
    expect(page.text).toMatch(/<label class="checkbox"><input type="checkbox" name="notifyOnNewIp" value="on" id="f-notifyOnNewIp"[^>]*> Alert me when this key is used from a new IP address<\/label>/);
    expect(page.text).not.toMatch(/id="f-notifyOnNewIp"[^>]*checked/);
    expect(page.text).toMatch(/name="usageLimit"[\s\S]*?<select id="f-usageLimitPeriod"/);
    expect(page.text).toMatch(/<option value="total" selected>/);
  });

  test('creates a key with the fields; the key page and the audit log show them', async () => {
    const id = await createThroughForm(governed);
    expect(await w.ctx.keys.get(w.tenant.id, id)).toMatchObject({
      tokenLimits: { perMinute: 2000, perDay: 100000 },
      maxConcurrentRequests: 5,
      usageLimit: 300,
      usageLimitPeriod: 'daily',
      notifyOnNewIp: true,
    });

    const detail = await agent.get(`/keys/${id}`).expect(200);
    const limits = /<section class="card" aria-labelledby="limits-title">([\s\S]*?)<\/section>/.exec(detail.text)?.[1] ?? '';
    expect(limits).toContain('<dt>Tokens per minute</dt><dd>2,000</dd>');
    expect(limits).toContain('<dt>Tokens per day (UTC)</dt><dd>100,000</dd>');
    expect(limits).toContain('<dt>Requests at once</dt><dd>5 at most</dd>');
    expect(limits).toContain('Daily quota: it restarts every day at 00:00 UTC.');
    expect(detail.text).toContain('<dt>Quota</dt><dd>300 requests per day</dd>');
    expect(detail.text).toContain('<dt>New IP alert</dt><dd>On: a webhook alert when a new address uses the key</dd>');

    const audit = await agent.get(`/audit?keyId=${id}`).expect(200);
    expect(audit.text).toContain('2,000 tokens/min, 100,000 tokens/day');
    expect(audit.text).toContain('5 at once');
  });

  test('a key made without them shows no limits and the alert off', async () => {
    const id = await createThroughForm({ name: 'plain' });
    expect(await w.ctx.keys.get(w.tenant.id, id)).toMatchObject({
      tokenLimits: { perMinute: null, perDay: null },
      maxConcurrentRequests: null,
      usageLimitPeriod: 'total',
      notifyOnNewIp: false,
    });
    const detail = await agent.get(`/keys/${id}`).expect(200);
    expect(detail.text).toContain('<dt>Tokens per minute</dt><dd>No limit</dd>');
    expect(detail.text).toContain('<dt>Requests at once</dt><dd>No limit</dd>');
    expect(detail.text).toContain('<dt>New IP alert</dt><dd>Off</dd>');
    expect(detail.text).not.toContain('Daily quota');
  });

  test('bad values are shown beside their fields, every value kept, nothing written', async () => {
    const count = await w.ctx.database.prisma.apiKey.count();
    const res = await post(
      agent,
      '/keys',
      { ...governed, tokensPerMinute: '0', tokensPerDay: '1,000,000,000,001', maxConcurrentRequests: 'many', usageLimitPeriod: 'weekly' },
      '/keys/new',
    );
    expect(res.status).toBe(400);
    expect(fieldError(res.text, 'tokensPerMinute')).toBe('Must be at least 1.');
    expect(fieldError(res.text, 'tokensPerDay')).toBe('Must be at most 1,000,000,000,000.');
    expect(fieldError(res.text, 'maxConcurrentRequests')).toBe('Must be a number.');
    expect(fieldError(res.text, 'usageLimitPeriod')).toBe('Must be one of total, daily, monthly.');
    expect(res.text).toContain('Please fix these 4 fields');
    expect(res.text).toContain('<a href="#f-tokensPerMinute">Tokens per minute</a>');
    expect(res.text).toMatch(/id="f-maxConcurrentRequests"[^>]*aria-describedby="f-maxConcurrentRequests-hint maxConcurrentRequests-error"[^>]*aria-invalid="true"/);

    expect(fieldValue(res.text, 'tokensPerMinute')).toBe('0');
    expect(fieldValue(res.text, 'tokensPerDay')).toBe('1,000,000,000,001');
    expect(fieldValue(res.text, 'maxConcurrentRequests')).toBe('many');
    expect(fieldValue(res.text, 'usageLimit')).toBe('300');
    expect(res.text).toMatch(/id="f-notifyOnNewIp"[^>]*checked/);
    expect(await w.ctx.database.prisma.apiKey.count()).toBe(count);
  });

  test('editing shows the current values; clearing them and unchecking the alert turns them off', async () => {
    const id = await createThroughForm({ ...governed, name: 'to edit' });
    const page = await agent.get(`/keys/${id}/edit`).expect(200);
    expect(fieldValue(page.text, 'tokensPerMinute')).toBe('2000');
    expect(fieldValue(page.text, 'maxConcurrentRequests')).toBe('5');
    expect(page.text).toMatch(/<option value="daily" selected>/);
    expect(page.text).toMatch(/id="f-notifyOnNewIp"[^>]*checked/);

    const saved = await post(
      agent,
      `/keys/${id}/edit`,
      { name: 'to edit', scopes: 'api', expiry: 'keep', tokensPerMinute: '', tokensPerDay: '50', maxConcurrentRequests: '', usageLimit: '300', usageLimitPeriod: 'monthly' },
      `/keys/${id}/edit`,
    );
    expect(saved.status).toBe(302);
    expect(await w.ctx.keys.get(w.tenant.id, id)).toMatchObject({
      tokenLimits: { perMinute: null, perDay: 50 },
      maxConcurrentRequests: null,
      usageLimitPeriod: 'monthly',
      notifyOnNewIp: false,
    });
  });
});
