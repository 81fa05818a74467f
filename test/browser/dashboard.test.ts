/**
 * The dashboard in real Chromium against the app on a real port: sign in; create a key with an
 * IP allowlist, a model list and a budget; copy its secret and call /api with it; check a request
 * in "would this request pass?"; rotate with a grace period (old and new secret both work);
 * revoke in the UI and see /api refuse it; open the charts. Screenshots of every main page at
 * 1440 px and of the key list at 375 px go to test-output/screenshots/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { listen } from '../helpers/listen';
import { createWorld, PASSWORD, type World } from '../dashboard/dashboard-helpers';
import { describeBrowser, launchChromium, SCREENSHOT_DIR } from './browser-helpers';

jest.setTimeout(120_000);

describeBrowser('dashboard in Chromium', () => {
  let world: World;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  const url = (p: string) => `${server.url}${p}`;
  const shot = async (name: string, target: Page = page) => {
    await target.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
  };
  const api = (secret: string, p = '/api/v1/models') => fetch(url(p), { headers: { Authorization: `Bearer ${secret}` } });

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    world = await createWorld();
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
    await expect(page.locator('#chart-hourly svg').count()).resolves.toBe(1);
    await expect(page.locator('#chart-daily svg').count()).resolves.toBe(1);
    expect(await page.locator('#chart-hourly rect.bar-ok').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#chart-daily rect.bar-ok').count()).toBeGreaterThanOrEqual(1);
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

  test('every main page renders; screenshots at 1440 and 375 px', async () => {
    // Some history for the lists.
    for (let i = 0; i < 12; i++) {
      await world.ctx.keys.create(world.tenant.id, { name: `service ${i + 1}`, tags: i % 2 ? ['staging'] : ['production'], ownerId: world.member.id, budget: i % 3 === 0 ? { limitCents: 2500, period: 'monthly' } : null }, { type: 'system', id: null, label: 'seed' });
    }
    const pages: [string, string][] = [
      ['overview', '/'],
      ['keys', '/keys'],
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
    await page.getByLabel('Per minute').fill('0');
    await page.getByLabel('Budget period').selectOption('total');
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect(page.locator('.error-summary').count()).resolves.toBe(1);
    await expect(page.locator('#name-error').count()).resolves.toBe(1);
    await expect(page.getByLabel('Allowed IPs').inputValue()).resolves.toBe('not-an-ip');
    await shot('key-new-errors-1440');

    await page.setViewportSize({ width: 375, height: 812 });
    for (const [name, p] of [['keys', '/keys'], ['overview', '/'], ['key-detail', keyPath], ['key-new', '/keys/new']]) {
      await page.goto(url(p));
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      expect({ page: name, overflow }).toEqual({ page: name, overflow: 0 });
      await shot(`${name}-375`);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  test('no page logged a CSP violation or script error', () => {
    expect(problems).toEqual([]);
  });
});
