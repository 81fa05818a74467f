/**
 * The dashboard in real Chromium against the app on a real port: sign in; create a key with an
 * IP allowlist, a model list and a budget; copy its secret and call /api with it; check a request
 * in "would this request pass?"; rotate with a grace period (old and new secret both work);
 * revoke in the UI and see /api refuse it; send real traffic with another key (succeeded, failed,
 * refused by model, IP, rate limit and wrong secret, and unknown keys) and read it in the outcome
 * charts, the request log (filters, CSV), the overview and the unknown-key page. Every page is
 * checked with axe-core (no violations) and screenshotted to test-output/screenshots/ at 1440 px,
 * the key page, request log, overview and key list also at 375 px (nothing overflows).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { generateKey } from '../../packages/guard/src/keys/key-format';
import { listen } from '../helpers/listen';
import { buildRefusal, buildUsageEvent } from '../helpers/usage-events';
import { createWorld, PASSWORD, type World } from '../dashboard/dashboard-helpers';
import { axeViolations, describeBrowser, expectNoOverflowAt375, launchChromium, SCREENSHOT_DIR } from './browser-helpers';

jest.setTimeout(120_000);

describeBrowser('dashboard in Chromium', () => {
  let world: World;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  const url = (p: string) => `${server.url}${p}`;
  /** Every page shot is first checked with axe-core: no violations. */
  const shot = async (name: string, target: Page = page) => {
    expect({ page: name, violations: await axeViolations(target) }).toEqual({ page: name, violations: [] });
    await target.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
  };
  const api = (secret: string, p = '/api/v1/models') => fetch(url(p), { headers: { Authorization: `Bearer ${secret}` } });

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    // Loopback is a trusted proxy, so the traffic below can come "from" several client addresses;
    // the request log keeps 30 days, so the history recorded below stays whole while the suite runs.
    world = await createWorld({ config: { trustProxy: ['loopback'], requestLog: { retentionDays: 30 } } });
    server = await listen(world.app);
    browser = await launchChromium();
    context = browser.context;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    page = context.pages()[0] ?? (await context.newPage());
    // Any CSP violation or script error on any page fails the suite at the end.
    // (Pages answered 4xx on purpose log "Failed to load resource"; assets are checked by response instead.)
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });
    page.on('response', (response) => {
      if (response.request().resourceType() !== 'document' && response.status() >= 400) {
        problems.push(`${response.status()} ${response.url()}`);
      }
    });
    page.on('pageerror', (error) => problems.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await world?.close();
  });

  let secret = '';
  let keyPath = '';

  test('signs in', async () => {
    await page.goto(url('/'));
    expect(new URL(page.url()).pathname).toBe('/login');
    await shot('login-1440');
    await page.getByLabel('Email').fill(world.admin.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(url('/'));
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview');
  });

  test('creates a key with an IP allowlist, a model list and a budget, and copies its secret', async () => {
    await page.getByRole('link', { name: 'Create a key' }).first().click();
    await page.waitForURL(url('/keys/new'));
    await page.getByLabel('Name', { exact: false }).first().fill('ci deploy');
    await page.getByLabel('Tags').fill('production, ci');
    await page.getByLabel('Allowed IPs').fill('127.0.0.1\n::1');
    await page.getByRole('checkbox', { name: 'local-small' }).check();
    await page.getByLabel('Budget period').selectOption('monthly');
    await page.getByLabel('Budget amount (USD)').fill('5.00');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.waitForURL(/\/keys\/[A-Za-z0-9]+\/secret$/);
    keyPath = new URL(page.url()).pathname.replace(/\/secret$/, '');

    secret = await page.locator('#secret').inputValue();
    expect(secret).toMatch(/^kw_[A-Za-z0-9]{12}_[A-Za-z0-9]+$/);
    await page.getByRole('button', { name: 'Copy' }).click();
    // The clipboard write is asynchronous: wait for the status it announces.
    await page.locator('#copy-status', { hasText: 'Copied to the clipboard.' }).waitFor({ timeout: 5000 });
    await expect(page.locator('#copy-status').textContent()).resolves.toBe('Copied to the clipboard.');
    // (Strings, not functions: the test code is type-checked without the DOM library.)
    await expect(page.evaluate<string>('navigator.clipboard.readText()')).resolves.toBe(secret);
    await shot('secret-1440');

    // Reloading does not show it again.
    await page.reload();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('The secret was shown already');
    expect(await page.content()).not.toContain(secret);
  });

  test('the copied secret works on /api, within its allowlist and models', async () => {
    const models = await api(secret);
    expect(models.status).toBe(200);
    const body = (await models.json()) as { data: { id: string }[] };
    expect(body.data.map((m) => m.id)).toEqual(['local-small']);

    for (let i = 0; i < 3; i++) {
      const chat = await fetch(url('/api/v1/chat/completions'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'local-small', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 }),
      });
      expect(chat.status).toBe(200);
    }
    await world.ctx.usage.flush();
  });

  test('shows usage charts and explains a refused request', async () => {
    await page.goto(url(keyPath));
    await expect(page.locator('#chart-hourly > svg').count()).resolves.toBe(1);
    await expect(page.locator('#chart-daily > svg').count()).resolves.toBe(1);
    expect(await page.locator('#chart-hourly rect.segment-ok').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#chart-daily rect.segment-ok').count()).toBeGreaterThanOrEqual(1);
    await expect(page.locator('#chart-hourly figcaption').textContent()).resolves.toContain('4 requests'); // 1 model list + 3 chats

    await page.getByLabel('Client IP').fill('203.0.113.9');
    await page.getByLabel('Model', { exact: true }).fill('local-small');
    await page.getByRole('button', { name: 'Check' }).click();
    await page.waitForURL(/ip=203\.0\.113\.9/);
    const verdict = await page.locator('.verdict').textContent();
    expect(verdict).toContain('Refused');
    expect(verdict).toContain('ip_not_allowed');
    await shot('key-detail-1440');
  });

  test('rotates with a grace period: old and new secrets both work', async () => {
    await page.goto(url(keyPath));
    await page.getByRole('link', { name: 'Rotate secret' }).click();
    await page.getByLabel('24 hours').check();
    await shot('confirm-rotate-1440');
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.waitForURL(/\/secret$/);
    const rotated = await page.locator('#secret').inputValue();
    expect(rotated).not.toBe(secret);
    await expect(page.locator('.secret-card').textContent()).resolves.toContain('previous secret keeps working until');
    expect((await api(secret)).status).toBe(200);
    expect((await api(rotated)).status).toBe(200);
    secret = rotated;
  });

  test('revokes in the UI and /api refuses the key', async () => {
    await page.goto(url(keyPath));
    await page.getByRole('link', { name: 'Revoke' }).click();
    await page.getByRole('button', { name: 'Revoke key' }).click();
    await page.waitForURL(url(keyPath));
    await expect(page.locator('.flash-success').textContent()).resolves.toContain('Revoked');
    const refused = await api(secret);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('key_revoked');
  });

  let trafficPath = '';
  let historyRequests = 0;

  test('real traffic with another key: succeeded, failed, refused by model, IP, rate limit and wrong secret', async () => {
    const { key: trafficSecret, apiKey } = await world.issue({
      name: 'chat backend',
      ownerId: world.owner.id,
      tags: ['production'],
      allowedIps: ['203.0.113.0/24'],
      allowedModels: ['local-small'],
      rateLimits: { perMinute: 10 },
      budget: { limitCents: 500, period: 'monthly' },
    });
    trafficPath = `/keys/${apiKey.id}`;
    const wrongSecret = generateKey('kw', apiKey.id).key;
    const send = async (step: { secret?: string; ip: string; model?: string; path?: string }) => {
      const res = await fetch(url(step.path ?? '/api/v1/chat/completions'), {
        method: step.path ? 'GET' : 'POST',
        headers: { Authorization: `Bearer ${step.secret ?? trafficSecret}`, 'Content-Type': 'application/json', 'X-Forwarded-For': step.ip },
        body: step.path ? undefined : JSON.stringify({ model: step.model ?? 'local-small', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 }),
      });
      return res.status === 200 ? 'ok' : `${res.status} ${((await res.json()) as { error: { code: string } }).error.code}`;
    };
    // Some history first (days 2 to 19 ago, at noon UTC), recorded as the guard reports requests,
    // so the 30-day chart has bars to compare and the request log has older pages.
    const DAY = 86_400_000;
    const base = { keyId: apiKey.id, tenantId: world.tenant.id, ip: '203.0.113.10', tokens: 16, costMicroCents: 2_000 };
    for (let k = 19; k >= 2; k--) {
      const at = Math.floor(Date.now() / DAY) * DAY - k * DAY + DAY / 2;
      for (let i = 0; i < 2 + (k % 4); i++) world.ctx.usage.record(buildUsageEvent({ ...base, at: at + i * 1000 }));
      if (k % 3 === 0) world.ctx.usage.refused?.(buildRefusal('rate_limited', { ...base, at: at + 10_000, status: 429 }));
      if (k % 4 === 0) world.ctx.usage.refused?.(buildRefusal('model_not_allowed', { ...base, at: at + 11_000, model: 'local-large' }));
      if (k % 6 === 0) world.ctx.usage.record(buildUsageEvent({ ...base, at: at + 12_000, ok: false, outcome: 'failed', status: 502, tokens: 0, costMicroCents: 0 }));
    }
    historyRequests = 65 + 6 + 4 + 3;

    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push(await send({ ip: '203.0.113.10' }));
    for (let i = 0; i < 4; i++) outcomes.push(await send({ ip: '203.0.113.11' }));
    // The built-in models never fail: an admitted request that failed (an upstream's 502) and one
    // whose client left are recorded as the guard reports them.
    const facts = { keyId: apiKey.id, tenantId: world.tenant.id, ip: '203.0.113.11', tokens: 0, costMicroCents: 0 };
    world.ctx.usage.record(buildUsageEvent({ ...facts, ok: false, outcome: 'failed', status: 502 }));
    world.ctx.usage.record(buildUsageEvent({ ...facts, ok: false, outcome: 'client_closed', status: 200 }));
    for (let i = 0; i < 3; i++) outcomes.push(await send({ ip: '203.0.113.10', model: 'local-large' }));
    for (let i = 0; i < 2; i++) outcomes.push(await send({ ip: '198.51.100.9' }));
    for (let i = 0; i < 2; i++) outcomes.push(await send({ ip: '203.0.113.10', secret: wrongSecret }));
    for (let i = 0; i < 4; i++) outcomes.push(await send({ ip: '203.0.113.10' }));
    // Keys that name no key, for the platform admin's page.
    for (let i = 0; i < 3; i++) outcomes.push(await send({ ip: '192.0.2.66', secret: 'kw_nonsense' }));
    outcomes.push(await send({ ip: '192.0.2.77', secret: 'kw_AAAAAAAAAAAA_nope' }));
    expect(outcomes).toEqual([
      ...Array(6).fill('ok'),
      ...Array(4).fill('ok'),
      ...Array(3).fill('403 model_not_allowed'),
      ...Array(2).fill('403 ip_not_allowed'),
      ...Array(2).fill('401 invalid_api_key'),
      ...Array(4).fill('429 rate_limited'),
      ...Array(4).fill('401 invalid_api_key'),
    ]);
    await world.ctx.usage.flush();
  });

  test('the key page: outcome charts with a legend and a table, refusal reasons, spend by model, client addresses', async () => {
    await page.goto(url(trafficPath));
    const legend = async (id: string) => (await page.locator(`#${id} .legend li`).allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    // Bottom to top: succeeded, failed, client left, then the refusal reasons, most frequent first
    // over the last 30 days (so both charts share colours and patterns).
    expect(await legend('chart-hourly')).toEqual([
      'Succeeded 10',
      'Failed 1',
      'Client left 1',
      'Refused: rate limited 4',
      'Refused: model not allowed 3',
      'Refused: wrong secret 2',
      'Refused: IP not allowed 2',
    ]);
    expect(await legend('chart-daily')).toEqual([
      'Succeeded 75',
      'Failed 4',
      'Client left 1',
      'Refused: rate limited 10',
      'Refused: model not allowed 7',
      'Refused: wrong secret 2',
      'Refused: IP not allowed 2',
    ]);
    await expect(page.locator('#chart-hourly .chart-summary').textContent()).resolves.toBe('23 requests: 10 succeeded, 1 failed, 1 client left, 11 refused');
    await expect(page.locator('#chart-daily .chart-summary').textContent()).resolves.toBe(`${23 + historyRequests} requests: 75 succeeded, 4 failed, 1 client left, 21 refused`);
    // Today's bar and the history's days with a rate-limit refusal.
    expect(await page.locator('#chart-daily rect.segment-r1').count()).toBe(1 + 6);
    await expect(page.locator('.reasons li').first().textContent()).resolves.toMatch(/^Rate limited rate_limited: 10/);
    await expect(page.locator('#addresses tbody tr').count()).resolves.toBe(3);
    await expect(page.locator('#models-title + .table-wrap tbody').textContent()).resolves.toContain('local-small');
    // The numbers behind the chart open without script.
    await page.locator('#chart-daily summary').click();
    await expect(page.locator('#chart-daily .chart-data table').isVisible()).resolves.toBe(true);
    await shot('key-outcomes-numbers-1440');
  });

  test('the request log: every request newest first, filters, CSV export', async () => {
    await page.goto(url(trafficPath));
    await page.getByRole('link', { name: 'Request log' }).click();
    await page.waitForURL(url(`${trafficPath}/requests`));
    await expect(page.locator('.request-log tbody tr').count()).resolves.toBe(50);
    await expect(page.locator('.request-log tbody tr').first().locator('.outcome-code').textContent()).resolves.toBe('rate_limited');
    await shot('request-log-1440');
    // Older pages by cursor, then back to the newest.
    let seen = 50;
    while (await page.getByRole('link', { name: 'Older →' }).count()) {
      await page.getByRole('link', { name: 'Older →' }).click();
      await page.waitForURL(/cursor=/);
      seen += await page.locator('.request-log tbody tr').count();
    }
    expect(seen).toBe(23 + historyRequests);
    await shot('request-log-last-page-1440');
    await page.getByRole('link', { name: '↑ Newest' }).click();
    await page.waitForURL(url(`${trafficPath}/requests`));

    await page.getByLabel('Outcome').selectOption('rate_limited');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/outcome=rate_limited/);
    await expect(page.locator('.request-log tbody tr').count()).resolves.toBe(10);
    await page.getByLabel('Outcome').selectOption('');
    await page.getByLabel('Client IP').fill('198.51.100.9');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/ip=198\.51\.100\.9/);
    await expect(page.locator('.request-log tbody .outcome-code').allTextContents()).resolves.toEqual(['ip_not_allowed', 'ip_not_allowed']);
    await shot('request-log-filtered-1440');

    // The download button sends the session cookie like a click would.
    const csvHref = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
    const csv = await context.request.get(url(csvHref as string));
    expect(csv.status()).toBe(200);
    expect(csv.headers()['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers()['cache-control']).toBe('no-store');
    expect((await csv.text()).trimEnd().split('\r\n')).toHaveLength(1 + 2);
    const usageCsv = await context.request.get(url(`${trafficPath}/usage.csv`));
    expect((await usageCsv.text()).trimEnd().split('\r\n')).toHaveLength(1 + 30);
  });

  test('the overview stacks the tenant\'s requests by outcome; the unknown-key page lists guessing addresses', async () => {
    await page.goto(url('/'));
    await expect(page.locator('#overview-daily .legend').textContent()).resolves.toContain('Refused: rate limited');
    await expect(page.locator('.reasons li').first().textContent()).resolves.toMatch(/^Rate limited rate_limited: 10/);
    await page.getByRole('link', { name: 'Unknown keys' }).click();
    await page.waitForURL(url('/unknown-keys'));
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows.map((r) => r.replace(/\s+/g, ' ').trim().split(' ').slice(0, 3).join(' '))).toEqual(['192.0.2.66 3 0', '192.0.2.77 1 0']);
  });

  test('every main page renders; screenshots at 1440 and 375 px', async () => {
    // Some history for the lists.
    for (let i = 0; i < 12; i++) {
      await world.ctx.keys.create(world.tenant.id, { name: `service ${i + 1}`, tags: i % 2 ? ['staging'] : ['production'], ownerId: world.member.id, budget: i % 3 === 0 ? { limitCents: 2500, period: 'monthly' } : null }, { type: 'system', id: null, label: 'seed' });
    }
    const pages: [string, string][] = [
      ['overview', '/'],
      ['keys', '/keys'],
      ['key-detail-revoked', keyPath],
      ['key-outcomes', trafficPath],
      ['request-log', `${trafficPath}/requests`],
      ['unknown-keys', '/unknown-keys'],
      ['unknown-keys-30d', '/unknown-keys?days=30'],
      ['key-new', '/keys/new'],
      ['key-edit', `${keyPath}/edit`],
      ['audit', '/audit'],
      ['members', '/members'],
      ['tenants', '/tenants'],
      ['users', '/users'],
      ['account', '/account'],
      ['user-detail', `/users/${world.member.id}`],
      ['user-password', `/users/${world.member.id}/password`],
      ['tenant-detail', `/tenants/${world.tenant.id}`],
      ['confirm-revoke', `/keys/${world.keys.member.id}/revoke`],
      ['settings', '/settings'],
      ['webhook-deliveries', `/settings/webhooks/${world.webhooks.tenant.id}`],
      ['confirm-webhook-delete', `/settings/webhooks/${world.webhooks.tenant.id}/delete`],
      ['not-found', '/no-such-page'],
    ];
    for (const [name, p] of pages) {
      const response = await page.goto(url(p));
      expect(response?.status()).toBe(name === 'not-found' ? 404 : 200);
      await shot(`${name}-1440`);
    }

    // The form with errors beside the fields, values kept.
    await page.goto(url('/keys/new'));
    await page.getByLabel('Allowed IPs').fill('not-an-ip');
    await page.getByLabel('Per minute', { exact: true }).fill('0');
    await page.getByLabel('Budget period').selectOption('total');
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect(page.locator('.error-summary').count()).resolves.toBe(1);
    await expect(page.locator('#name-error').count()).resolves.toBe(1);
    await expect(page.getByLabel('Allowed IPs').inputValue()).resolves.toBe('not-an-ip');
    await shot('key-new-errors-1440');

    const narrow: [string, string][] = [
      ['keys', '/keys'],
      ['overview', '/'],
      ['key-detail', keyPath],
      ['key-outcomes', trafficPath],
      ['request-log', `${trafficPath}/requests`],
      ['unknown-keys', '/unknown-keys'],
      ['key-new', '/keys/new'],
    ];
    await expectNoOverflowAt375(page, narrow.map(([name, p]) => [name, url(p)]), shot);
  });

  test('no page logged a CSP violation or script error', () => {
    expect(problems).toEqual([]);
  });
});
