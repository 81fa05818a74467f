/**
 * What a key did, in the dashboard (issue 10, item 4): after a scripted mix on one key (20 ok,
 * 5 rate_limited, 3 model_not_allowed, 2 ip_not_allowed, 2 wrong-secret) the key page shows
 * exactly those counts (outcome charts, refusal reasons), spend by model and the client
 * addresses; the request log lists, filters and pages them; the CSV exports are spreadsheet-safe,
 * never stored and follow the access rules; the overview counts refusals; the unknown-key page
 * is for platform admins only.
 */
import request from 'supertest';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { chatBody } from '../helpers/app';
import { buildRefusal } from '../helpers/usage-events';
import { type Agent, createWorld, decode, signedIn, type World } from './dashboard-helpers';

const ALLOWED_IP = '203.0.113.10';
const SECOND_IP = '203.0.113.11';
const OTHER_IP = '198.51.100.9';
const FORMULA_AGENT = '=HYPERLINK("http://evil.example","click")';

const SCRIPT = [
  ...Array.from({ length: 16 }, () => ({ outcome: 'ok', ip: ALLOWED_IP, model: 'local-small', secret: 'right' })),
  ...Array.from({ length: 4 }, () => ({ outcome: 'ok', ip: SECOND_IP, model: 'local-small', secret: 'right' })),
  ...Array.from({ length: 3 }, () => ({ outcome: 'model_not_allowed', ip: ALLOWED_IP, model: 'local-large', secret: 'right' })),
  ...Array.from({ length: 2 }, () => ({ outcome: 'ip_not_allowed', ip: OTHER_IP, model: 'local-small', secret: 'right' })),
  ...Array.from({ length: 2 }, () => ({ outcome: 'invalid_api_key', ip: ALLOWED_IP, model: 'local-small', secret: 'wrong' })),
  ...Array.from({ length: 5 }, () => ({ outcome: 'rate_limited', ip: ALLOWED_IP, model: 'local-small', secret: 'right' })),
];

/** The text of an element matched by `pattern` (first group), tags stripped. */
const textOf = (html: string, pattern: RegExp) => decode((pattern.exec(html)?.[1] ?? '').replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim());
/** The outcome codes of the request log's rows, in order. */
const loggedOutcomes = (html: string) => [...html.matchAll(/<code class="outcome-code">([a-z_]+)<\/code>/g)].map((m) => m[1]);

describe('a key\'s activity in the dashboard', () => {
  let w: World;
  let owner: Agent;
  let keyId: string;

  beforeAll(async () => {
    w = await createWorld({ config: { trustProxy: ['loopback'] } });
    const issued = await w.issue({
      name: 'mixed traffic',
      ownerId: w.member.id,
      tier: 'pro',
      rateLimits: { perMinute: 20 },
      allowedIps: ['203.0.113.0/24'],
      allowedModels: ['local-small'],
    });
    keyId = issued.apiKey.id;
    const wrong = generateKey('kw', keyId).key;
    for (const [i, step] of SCRIPT.entries()) {
      const res = await request(w.app)
        .post('/api/v1/chat/completions')
        .set('Authorization', `Bearer ${step.secret === 'right' ? issued.key : wrong}`)
        .set('X-Forwarded-For', step.ip)
        .set('User-Agent', i === 0 ? FORMULA_AGENT : 'activity-test')
        .send(chatBody({ model: step.model }));
      const outcome = res.status === 200 ? 'ok' : res.body.error.code;
      if (outcome !== step.outcome) throw new Error(`step ${i}: expected ${step.outcome}, got ${res.status} ${outcome}`);
    }
    // Attempts naming no key, for the platform admin's page.
    for (let i = 0; i < 3; i++) {
      await request(w.app).get('/api/v1/models').set('Authorization', 'Bearer kw_nonsense').set('X-Forwarded-For', '192.0.2.66').expect(401);
    }
    await w.ctx.usage.flush();
    owner = await signedIn(w.app, w.owner.email);
  }, 60_000);

  afterAll(() => w.close());

  test('the key page shows exactly the mix: totals, refusal reasons, both charts, models, addresses', async () => {
    const res = await owner.get(`/keys/${keyId}`).expect(200);
    const html = res.text;
    const totals = [...html.matchAll(/<dt>([^<]+)<\/dt><dd>([\d,]+)<\/dd>/g)].map((m) => [m[1], m[2]]);
    expect(totals).toEqual([['Every request', '32'], ['Succeeded', '20'], ['Failed', '0'], ['Refused', '12']]);
    const reasons = textOf(html, /<ol class="reasons">([\s\S]*?)<\/ol>/);
    expect(reasons).toBe(
      'Rate limited rate_limited: 5 (16% of every request) Model not allowed model_not_allowed: 3 (9% of every request) ' +
        'Wrong secret invalid_api_key: 2 (6% of every request) IP not allowed ip_not_allowed: 2 (6% of every request)',
    );
    expect(html).toContain(`<a href="/keys/${keyId}/requests?outcome=rate_limited">Rate limited</a>`);
    const summary = '32 requests: 20 succeeded, 5 refused: rate limited, 3 refused: model not allowed, 2 refused: wrong secret, 2 refused: IP not allowed';
    for (const id of ['chart-hourly', 'chart-daily']) {
      const figure = new RegExp(`<figure class="chart" id="${id}">([\\s\\S]*?)</figure>`).exec(html)?.[1] ?? '';
      expect(textOf(figure, /<span class="muted chart-summary">([^<]*)</)).toBe('32 requests: 20 succeeded, 12 refused');
      // The text alternative names every series with requests, and so does the legend, with its count.
      expect(textOf(figure, /<desc id="[^"]+">([^<]*)</)).toContain(summary);
      const legend = [...figure.matchAll(/<li class="legend-([a-z0-9]+)">[\s\S]*?<\/svg>([^<]+) <span class="legend-count">([\d,]+)</g)].map((m) => [m[1], decode(m[2]), m[3]]);
      expect(legend).toEqual([
        ['ok', 'Succeeded', '20'],
        ['failed', 'Failed', '0'],
        ['r1', 'Refused: rate limited', '5'],
        ['r2', 'Refused: model not allowed', '3'],
        ['r3', 'Refused: wrong secret', '2'],
        ['r4', 'Refused: IP not allowed', '2'],
      ]);
      // One bar holds it all (the last hour, today), stacked bottom up in legend order.
      const segments = [...figure.matchAll(/<rect class="segment segment-([a-z0-9]+)"/g)].map((m) => m[1]);
      expect(segments).toEqual(['ok', 'r1', 'r2', 'r3', 'r4']);
    }
    const models = /<h2 id="models-title">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
    expect(models).toMatch(/^\s*<tr><th scope="row"><code>local-small<\/code><\/th><td class="num" data-label="Requests">20<\/td><td class="num" data-label="Tokens">[\d,]+<\/td><td class="num" data-label="Spend">\$0\.0\d+<\/td><\/tr>\s*$/);
    const addresses = [...html.matchAll(/<th scope="row"><a href="\/keys\/[^"]+\/requests\?ip=([^"]+)"[^>]*><code>[^<]+<\/code><\/a><\/th>[\s\S]*?<td data-label="Requests" class="num">([\d,]+)<\/td>/g)].map((m) => [m[1], m[2]]);
    expect(addresses.sort()).toEqual([[OTHER_IP, '2'], [ALLOWED_IP, '26'], [SECOND_IP, '4']].sort());
  });

  test('the request log lists the requests newest first, with filters', async () => {
    const all = await owner.get(`/keys/${keyId}/requests`).expect(200);
    expect(loggedOutcomes(all.text)).toEqual([...SCRIPT].reverse().map((s) => s.outcome));
    expect(all.text).toContain('aria-current="page">Request log</a>');
    // Under many keys a second usage is journaled and a request logged at the fold (30 s by default).
    expect(all.text).toContain('While Keyward serves many keys a second, a request can take up to 30 seconds to appear.');
    expect(all.text).toContain('<td data-label="Status" class="num">429</td>');
    expect(all.text).toContain(`<td data-label="Client IP"><code>${OTHER_IP}</code></td>`);
    expect(all.text).toMatch(/<td data-label="Cost" class="num">\$0\.0\d+<\/td>/);

    const limited = await owner.get(`/keys/${keyId}/requests?outcome=rate_limited`).expect(200);
    expect(loggedOutcomes(limited.text)).toEqual(Array(5).fill('rate_limited'));
    expect(limited.text).toMatch(/<option value="rate_limited" selected>/);
    const other = await owner.get(`/keys/${keyId}/requests?ip=${OTHER_IP}`).expect(200);
    expect(loggedOutcomes(other.text)).toEqual(['ip_not_allowed', 'ip_not_allowed']);
    const today = new Date().toISOString().slice(0, 10);
    expect(loggedOutcomes((await owner.get(`/keys/${keyId}/requests?from=${today}&to=${today}`)).text)).toHaveLength(SCRIPT.length);
    expect(loggedOutcomes((await owner.get(`/keys/${keyId}/requests?to=2020-01-01`)).text)).toEqual([]);
    // An empty form field means "any"; a day that does not exist is dropped, not a 500.
    const blank = await owner.get(`/keys/${keyId}/requests?outcome=rate_limited&ip=&from=&to=2026-02-30`).expect(200);
    expect(loggedOutcomes(blank.text)).toEqual(Array(5).fill('rate_limited'));

    const typo = await owner.get(`/keys/${keyId}/requests?ip=203.0.113`).expect(200);
    expect(typo.text).toContain('id="ip-error"');
    expect(typo.text).toContain('Check the client IP filter');
    expect(loggedOutcomes(typo.text)).toEqual([]);
  });

  test('pages go on by cursor without duplicates or gaps', async () => {
    const { apiKey } = await w.issue({ name: 'busy', ownerId: w.member.id });
    const start = Date.now() - 60_000;
    for (let i = 0; i < 120; i++) {
      w.ctx.usage.refused?.(buildRefusal('rate_limited', { keyId: apiKey.id, tenantId: w.tenant.id, at: start + i * 100, requestId: `req-${String(i).padStart(3, '0')}` }));
    }
    await w.ctx.usage.flush();
    const seen: string[] = [];
    let next: string | null = `/keys/${apiKey.id}/requests`;
    let pages = 0;
    while (next) {
      const res = await owner.get(next).expect(200);
      seen.push(...[...res.text.matchAll(/<code>(req-\d{3})<\/code>/g)].map((m) => m[1]));
      const older = /<a class="button button-secondary" href="([^"]+)" rel="next">Older/.exec(res.text);
      next = older ? decode(older[1]) : null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 120 }, (_, i) => `req-${String(119 - i).padStart(3, '0')}`));
  });

  test('the request log exports as spreadsheet-safe CSV, never stored, with the filters', async () => {
    const res = await owner.get(`/keys/${keyId}/requests.csv`).expect(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="keyward-requests-${keyId}.csv"`);
    const lines = res.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('at,outcome,status,ip,model,chatbot,tokens,costCents,latencyMs,requestId,userAgent');
    expect(lines.slice(1).map((line) => line.split(',')[1])).toEqual([...SCRIPT].reverse().map((s) => s.outcome));
    // The first request's user agent was a formula: it reads as text.
    expect(lines.at(-1)).toMatch(/,"'=HYPERLINK\(""http:\/\/evil\.example"",""click""\)"$/);

    const filtered = await owner.get(`/keys/${keyId}/requests.csv?outcome=model_not_allowed`).expect(200);
    expect(filtered.text.trimEnd().split('\r\n')).toHaveLength(1 + 3);
    // The page's button keeps the filters.
    const page = await owner.get(`/keys/${keyId}/requests?outcome=model_not_allowed&ip=${ALLOWED_IP}`).expect(200);
    expect(page.text).toContain(`href="/keys/${keyId}/requests.csv?outcome=model_not_allowed&amp;ip=${ALLOWED_IP}">Download CSV</a>`);
  });

  test('the key\'s usage exports as one CSV row per day of the last 30', async () => {
    const res = await owner.get(`/keys/${keyId}/usage.csv`).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const lines = res.text.trimEnd().split('\r\n');
    const header = lines[0].split(',');
    expect(header.slice(0, 5)).toEqual(['date', 'requests', 'ok', 'failed', 'client_closed']);
    expect(lines).toHaveLength(31);
    const today = Object.fromEntries(header.map((name, i) => [name, lines[30].split(',')[i]]));
    expect(today).toMatchObject({ date: new Date().toISOString().slice(0, 10), requests: '32', ok: '20', rate_limited: '5', model_not_allowed: '3', ip_not_allowed: '2', invalid_api_key: '2' });
    expect(Number(today.costCents)).toBeGreaterThan(0);
  });

  test('exports follow the key page\'s access rules; tenant usage is for managers', async () => {
    const member = await signedIn(w.app, w.member.email);
    await member.get(`/keys/${keyId}/requests.csv`).expect(200);
    const otherMember = await signedIn(w.app, w.otherMember.email);
    for (const path of [`/keys/${keyId}/requests`, `/keys/${keyId}/requests.csv`, `/keys/${keyId}/usage.csv`, '/usage.csv']) {
      const res = await otherMember.get(path);
      expect({ path, status: res.status, type: res.headers['content-type'] }).toEqual({ path, status: 404, type: 'text/html; charset=utf-8' });
    }
    expect((await member.get('/').expect(200)).text).not.toContain('href="/usage.csv');

    const byModel = await owner.get('/usage.csv?groupBy=model').expect(200);
    expect(byModel.headers['cache-control']).toBe('no-store');
    expect(byModel.text.split('\r\n')[1]).toMatch(/^local-small,20,20,0,0,/);
    const byKey = await owner.get('/usage.csv?groupBy=key').expect(200);
    expect(byKey.text).toContain(`${keyId},mixed traffic,32,20,`);
  });

  test('the overview counts refusals today and lists the top refusal reasons', async () => {
    const html = (await owner.get('/').expect(200)).text;
    // 32 of the mix, 120 refusals of "busy".
    expect(html).toMatch(/<span class="stat-value">152<\/span><span class="stat-label">Requests today \(132 refused\)<\/span>/);
    expect(textOf(html, /<ol class="reasons">([\s\S]*?)<\/ol>/)).toMatch(/^Rate limited rate_limited: 125 \(82% of every request\) Model not allowed/);
    expect(textOf(html, /<span class="muted chart-summary">([^<]*)</)).toBe('152 requests: 20 succeeded, 132 refused');
    expect(textOf(html, /<desc id="overview-daily-desc">([^<]*)</)).toMatch(/: 152 requests: 20 succeeded, 125 refused: rate limited, 3 refused: model not allowed, /);
    // A member's overview counts their own keys only (both keys are the member's here).
    const member = await signedIn(w.app, w.member.email);
    expect((await member.get('/').expect(200)).text).toMatch(/<span class="stat-value">152<\/span>/);
    const otherMember = await signedIn(w.app, w.otherMember.email);
    expect((await otherMember.get('/').expect(200)).text).toMatch(/<span class="stat-value">0<\/span><span class="stat-label">Requests today<\/span>/);
  });

  test('unknown-key attempts by address, for platform admins only', async () => {
    const admin = await signedIn(w.app, w.admin.email);
    const res = await admin.get('/unknown-keys').expect(200);
    expect(res.text).toContain('<a href="/unknown-keys" aria-current="page">Unknown keys</a>');
    const row = textOf(res.text, /<tbody>([\s\S]*?)<\/tbody>/);
    expect(row).toMatch(/^192\.0\.2\.66 3 0 just now/);
    await admin.get('/unknown-keys?days=30').expect(200);
    const ownerPage = await owner.get('/').expect(200);
    expect(ownerPage.text).not.toContain('href="/unknown-keys"');
    await owner.get('/unknown-keys').expect(404);
  });
});
