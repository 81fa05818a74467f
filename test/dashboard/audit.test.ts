/**
 * The audit log answers who and what (issue 10, item 5): every changed field in human terms with
 * long lists folded under "+N more", names beside ids kept in the event (a deleted key still reads
 * right and is not linked), events made by API keys through the management API, and a key filter
 * that takes what the key list shows. The management API gives the kept names too.
 */
import request from 'supertest';
import { availableProviders } from '../helpers/databases';
import { SpecValidator } from '../helpers/openapi';
import { buildUsageEvent } from '../helpers/usage-events';
import { createWorld, decode, post, signedIn, type Agent, type World } from './dashboard-helpers';

/** The audit table's rows as text: one string per row, tags stripped, whitespace squeezed. */
function rowsOf(html: string): string[] {
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
  const text = (html: string) => html.replace(/<\/?(?:span|a|code|time|summary)\b[^>]*>/g, '').replace(/<[^>]+>/g, ' ');
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => decode(text(m[1])).replace(/\s+/g, ' ').trim());
}

describe.each(availableProviders)('the audit log on %s', (provider) => {
  let w: World;
  let owner: Agent;
  let keyId: string;
  let adminKey: { key: string; apiKey: { id: string; name: string } };
  beforeAll(async () => {
    w = await createWorld({ provider });
    owner = await signedIn(w.app, w.owner.email);
    const created = await post(
      owner,
      '/keys',
      {
        name: 'billing prod',
        tags: 'production, billing',
        ownerId: w.member.id,
        scopes: 'api',
        allowedIps: '10.0.0.0/8',
        allowedModels: ['local-small'],
        allowedChatbots: 'helpdesk',
        tier: 'pro',
        perMinute: '20',
        usageLimit: '50000',
        budgetPeriod: 'monthly',
        budgetAmount: '5',
        expiry: 'days',
        expiresInDays: '30',
      },
      '/keys/new',
    );
    keyId = (created.headers.location as string).split('/')[2];
    adminKey = await w.issue({ name: 'ops automation', scopes: ['admin'] });
  });
  afterAll(() => w.close());

  test('a creation shows every field set, in human terms, the rest folded under "+N more"', async () => {
    const res = await owner.get(`/audit?key=${keyId}`).expect(200);
    const [row] = rowsOf(res.text);
    expect(row).toContain('Key created');
    expect(row).toContain('billing prod');
    for (const line of [
      'name: billing prod',
      'scopes: api',
      'tags: billing, production',
      'tier: pro',
      'rate limits: 20/min',
      'allowed IPs: 10.0.0.0/8',
      'allowed models: local-small',
      'allowed chatbots: helpdesk',
      'request quota: 50,000 requests',
      'budget: $5.00 monthly',
      `owner: ${w.member.email}`,
    ]) {
      expect(row).toContain(line);
    }
    expect(row).toMatch(/expires: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(res.text).toMatch(/<details class="more-changes">\s*<summary>\+\d+ more<\/summary>/);
    expect(res.text).not.toMatch(/limitCents|perMinute|ownerId/);
  });

  test('a usage reset reads as money, not micro-cents', async () => {
    w.ctx.usage.record(buildUsageEvent({ keyId, tenantId: w.tenant.id, costMicroCents: 61_250, tokens: 7 }));
    await w.ctx.usage.flush();
    expect((await post(owner, `/keys/${keyId}/reset-usage`)).status).toBe(302);
    const [row] = rowsOf((await owner.get(`/audit?key=${keyId}&action=key.reset_usage`)).text);
    expect(row).toContain('spend: $0.000613 → $0.00');
    expect(row).toContain('requests ok: 1 → 0');
    expect(row).not.toContain('spendMicroCents');
  });

  test('the key filter takes the displayed kw_… form and the bare id; anything else is explained', async () => {
    const bare = rowsOf((await owner.get(`/audit?key=${keyId}`)).text);
    const shown = await owner.get(`/audit?key=${encodeURIComponent(`kw_${keyId}…`)}`).expect(200);
    expect(rowsOf(shown.text)).toEqual(bare);
    expect(bare.length).toBeGreaterThanOrEqual(2);
    const bad = await owner.get('/audit?key=billing').expect(200);
    expect(bad.text).toContain('id="key-error"');
    expect(bad.text).toContain('No events match these filters');
  });

  test('events made with an API key name it, and the actor filter lists it', async () => {
    const api = await request(w.app)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${adminKey.key}`)
      .send({ name: 'made by automation', ownerId: w.otherMember.id });
    expect(api.status).toBe(201);
    const page = await owner.get('/audit').expect(200);
    expect(page.text).toContain('<optgroup label="API keys (management API)">');
    expect(page.text).toContain(`<option value="key:${adminKey.apiKey.id}">ops automation (${adminKey.apiKey.id})</option>`);
    const filtered = rowsOf((await owner.get(`/audit?actor=key:${adminKey.apiKey.id}`)).text);
    expect(filtered).toHaveLength(1);
    expect(filtered[0]).toContain('ops automation API key');
    expect(filtered[0]).toContain('made by automation');
    expect(filtered[0]).toContain(`owner: ${w.otherMember.email}`);
    // A person's filter does not show the key's events; "Keyward itself" shows only the system's.
    expect(rowsOf((await owner.get(`/audit?actor=${w.owner.id}`)).text).join()).not.toContain('made by automation');
    const system = rowsOf((await owner.get('/audit?actor=system')).text);
    expect(system.length).toBeGreaterThan(0);
    expect(system.every((row) => row.includes('system'))).toBe(true);
    expect(system.join()).not.toContain('made by automation');
  });

  test('a deleted key keeps its name in its events and is not linked (no 404)', async () => {
    const before = await owner.get('/audit').expect(200);
    expect(before.text).toContain(`<a href="/keys/${keyId}">billing prod</a>`);
    expect((await post(owner, `/keys/${keyId}/delete`)).status).toBe(302);
    const after = await owner.get('/audit').expect(200);
    expect(after.text).not.toContain(`href="/keys/${keyId}"`);
    const rows = rowsOf((await owner.get(`/audit?key=${keyId}`)).text);
    expect(rows[0]).toContain('Key deleted');
    expect(rows.every((row) => row.includes('billing prod'))).toBe(true);
  });

  test('member events name the person; the management API returns the kept names, as documented', async () => {
    await w.ctx.users.setMembership(w.outsider.id, w.tenant.id, 'admin', { type: 'user', id: w.owner.id, label: w.owner.email });
    const [row] = rowsOf((await owner.get('/audit?action=member.add')).text);
    expect(row).toContain(w.outsider.email);
    expect(row).toContain('role: admin');

    const spec = new SpecValidator((await request(w.app).get('/api/openapi.json')).body);
    const res = await request(w.app).get('/api/v1/audit-events?action=key.create&size=100').set('Authorization', `Bearer ${adminKey.key}`);
    spec.check(res, 'get', '/api/v1/audit-events');
    const made = res.body.data.find((e: { targetLabel: string }) => e.targetLabel === 'made by automation');
    expect(made).toMatchObject({ targetType: 'api_key', labels: { [w.otherMember.id]: w.otherMember.email } });
  });
});
