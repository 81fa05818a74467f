/**
 * Issue 10's audit log and page fixes in real Chromium: the audit log with names and human values
 * and "+N more" opening without script; the key form's tier placeholders and expiry choice
 * following what is typed (public/app.js); the key list's Created/Expires columns, expiry filter
 * and page jump; the confirmation pages; the users search; and a filled form surviving the end of
 * its session (Chromium's own Sec-Fetch-Site header). Every page visited is checked with axe-core
 * (no violations) and screenshotted to test-output/screenshots/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { listen } from '../helpers/listen';
import { createWorld, PASSWORD, type World } from '../dashboard/dashboard-helpers';
import { testActor } from '../helpers/context';
import { axeViolations, describeBrowser, expectNoOverflowAt375, launchChromium, SCREENSHOT_DIR } from './browser-helpers';

jest.setTimeout(180_000);

describeBrowser('audit log and page fixes in Chromium', () => {
  let world: World;
  let server: Awaited<ReturnType<typeof listen>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const problems: string[] = [];

  const url = (p: string) => `${server.url}${p}`;
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });

  /** axe-core on the current page: no violations. */
  async function axe(label: string): Promise<void> {
    expect({ page: label, violations: await axeViolations(page) }).toEqual({ page: label, violations: [] });
  }

  async function visit(name: string, p: string, status = 200): Promise<void> {
    const response = await page.goto(url(p));
    expect({ page: name, status: response?.status() }).toEqual({ page: name, status });
    await axe(name);
    await shot(`${name}-1440`);
  }

  async function signIn(email: string): Promise<void> {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    world = await createWorld();
    server = await listen(world.app);
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(url('/login'));
    await signIn(world.admin.email);
    await page.waitForURL(url('/'));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await world?.close();
  });

  test('the key form: placeholders follow the tier, typing days picks "Expires after a number of days"', async () => {
    await visit('key-new', '/keys/new');
    const perMinute = page.getByLabel('Per minute', { exact: true });
    await expect(perMinute.getAttribute('placeholder')).resolves.toBe('10 (free default)');
    await page.getByLabel('Tier').selectOption('pro');
    await expect(perMinute.getAttribute('placeholder')).resolves.toBe('100 (pro default)');
    await expect(page.getByLabel('Per month').getAttribute('placeholder')).resolves.toBe('500,000 (pro default)');
    await expect(page.getByLabel('Never expires').isChecked()).resolves.toBe(true);
    await page.getByLabel('Days from now (1–365)').fill('30');
    await expect(page.getByLabel('Expires after a number of days').isChecked()).resolves.toBe(true);
    await shot('key-new-tier-pro-1440');

    await page.getByLabel('Name', { exact: false }).first().fill('billing prod');
    await page.getByLabel('Tags').fill('Production, billing');
    await page.getByLabel('Owner').selectOption({ label: `${world.member.email} (member)` });
    await page.getByLabel('Allowed IPs').fill('10.0.0.0/8');
    await page.getByRole('checkbox', { name: 'local-small' }).check();
    await page.getByLabel('Allowed chatbots').fill('helpdesk');
    await page.getByLabel('Per minute', { exact: true }).fill('20');
    await page.getByLabel('Request quota').fill('50000');
    await page.getByLabel('Budget period').selectOption('monthly');
    await page.getByLabel('Budget amount (USD)').fill('5');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.waitForURL(/\/secret$/);
  });

  test('the audit log names people and keys, reads values in plain terms, and opens "+N more"', async () => {
    await visit('audit', '/audit');
    const row = page.locator('tbody tr').first();
    await expect(row.textContent()).resolves.toContain('billing prod');
    const more = row.locator('details.more-changes');
    await expect(more.locator('summary').textContent()).resolves.toMatch(/^\+\d+ more$/);
    await expect(more.locator('.after', { hasText: '$5.00 monthly' }).isVisible()).resolves.toBe(false);
    await more.locator('summary').click();
    await expect(more.locator('.after', { hasText: '$5.00 monthly' }).isVisible()).resolves.toBe(true);
    await expect(row.textContent()).resolves.toContain(world.member.email);
    await axe('audit-expanded');
    await shot('audit-expanded-1440');

    await page.getByLabel('Key', { exact: true }).fill('kw_nonsense');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect(page.locator('#key-error').textContent()).resolves.toContain('Is not a key id');
    await axe('audit-key-error');
  });

  test('the key list: Created and Expires, the expiry filter, the page jump', async () => {
    for (let i = 0; i < 24; i++) {
      await world.ctx.keys.create(
        world.tenant.id,
        { name: `svc ${String(i + 1).padStart(2, '0')}`, expiresAt: i < 12 ? new Date(Date.now() + (i + 1) * 12 * 3_600_000).toISOString() : null },
        { type: 'system', id: null, label: 'seed' },
      );
    }
    await visit('keys-expiring', '/keys?expires=7d&sort=expiring');
    await expect(page.locator('tbody tr').count()).resolves.toBe(12);
    await visit('overview-expiring', '/');
    await page.getByRole('link', { name: /^See all 12 keys expiring within 7 days$/ }).click();
    await page.waitForURL(/expires=7d/);
    await visit('keys-page-1', '/keys?size=10');
    await page.getByLabel('Page', { exact: true }).fill('3');
    await page.getByRole('button', { name: 'Go' }).click();
    await page.waitForURL(/page=3/);
    await expect(page.locator('.pagination p').textContent()).resolves.toMatch(/page 3 of 3/);
    await visit('keys-beyond', '/keys?size=10&page=102');
    await expect(page.locator('.pagination p').textContent()).resolves.toContain('There is no page 102');
  });

  test('confirmation pages, the users search, the last-owner note, the request check', async () => {
    await visit('confirm-disable-user', `/users/${world.otherMember.id}/disable`);
    await visit('confirm-member-role', `/members/${world.member.id}/role?role=admin`);
    await visit('confirm-sign-out-everywhere', '/account/sign-out-everywhere');
    await visit('confirm-membership-remove', `/users/${world.member.id}/memberships/${world.tenant.id}/remove`);
    await visit('users-search', '/users?q=member');
    await visit('members', '/members');
    await visit('key-check-unknown-model', `/keys/${world.keys.member.id}?ip=10.0.0.1&model=gpt-unknown#check`);
    await expect(page.locator('.verdict').textContent()).resolves.toContain('404 model_not_found');
    await visit('error-404', '/no-such-page', 404);

    // A tenant with one owner: no role change or removal offered for them, and the page says why.
    const solo = await world.ctx.tenants.create({ name: 'Solo Co', slug: 'solo-co' }, { type: 'system', id: null, label: 'seed' });
    const soloOwner = await world.ctx.users.create({ email: 'solo@example.com', password: PASSWORD }, { type: 'system', id: null, label: 'seed' });
    await world.ctx.users.setMembership(soloOwner.id, solo.id, 'owner', { type: 'system', id: null, label: 'seed' });
    await page.goto(url('/'));
    await page.locator('select[name="tenantId"]').selectOption(solo.id);
    await page.getByRole('button', { name: 'Switch' }).click();
    await page.waitForURL(url('/'));
    await visit('members-last-owner', '/members');
    await expect(page.locator('tbody').textContent()).resolves.toContain('The only owner: a tenant always keeps one.');
    await expect(page.getByRole('link', { name: /^Remove/ }).count()).resolves.toBe(0);
    await page.locator('select[name="tenantId"]').selectOption(world.tenant.id);
    await page.getByRole('button', { name: 'Switch' }).click();
    await page.waitForURL(url('/'));
  });

  test('a filled form survives the end of its session', async () => {
    await page.goto(url('/keys/new'));
    await page.getByLabel('Name', { exact: false }).first().fill('typed before the timeout');
    await page.getByLabel('Allowed IPs').fill('203.0.113.7');
    await page.getByLabel('Days from now (1–365)').fill('14');
    // The session ends while the form is open (as the idle timeout would).
    await world.ctx.database.prisma.session.deleteMany({});
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect(page.locator('.auth-card .flash-info').textContent()).resolves.toContain('Your session ended, so nothing was saved.');
    await axe('sign-in-resume');
    await shot('sign-in-resume-1440');
    expect(await world.ctx.database.prisma.apiKey.count({ where: { name: 'typed before the timeout' } })).toBe(0);

    await signIn(world.admin.email);
    await page.waitForURL(url('/keys/new'));
    await expect(page.getByLabel('Name', { exact: false }).first().inputValue()).resolves.toBe('typed before the timeout');
    await expect(page.getByLabel('Allowed IPs').inputValue()).resolves.toBe('203.0.113.7');
    await expect(page.getByLabel('Expires after a number of days').isChecked()).resolves.toBe(true);
    await expect(page.locator('.flash-info').first().textContent()).resolves.toContain('What you typed is back');
    await axe('key-new-restored');
    await shot('key-new-restored-1440');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.waitForURL(/\/secret$/);
    expect(await world.ctx.database.prisma.apiKey.count({ where: { name: 'typed before the timeout' } })).toBe(1);
  });

  test('at 375 px nothing overflows: audit log, key list with its page jump, a confirmation, users', async () => {
    const narrow: [string, string][] = [
      ['audit', '/audit'],
      ['keys-page-1', '/keys?size=10'],
      ['confirm-member-role', `/members/${world.member.id}/role`],
      ['users-search', '/users?q=example'],
    ];
    await expectNoOverflowAt375(page, narrow.map(([name, p]) => [name, url(p)]), shot);
  });

  test('limits above keys: the settings Limits section and a refused limits form, a member\'s limits, the overview bar, at 1440 and 375 px', async () => {
    const { ctx, tenant, member } = world;
    await ctx.levels.updateTenant(tenant.id, { budget: { limitCents: 5000, period: 'monthly' }, rateLimits: { perMinute: 600 } }, testActor);
    await ctx.levels.updateOwner(tenant.id, member.id, { budget: { limitCents: 500, period: 'total' }, rateLimits: { perDay: 100 } }, testActor);
    await visit('overview-budget', '/');
    expect(await page.locator('#overview-budget-label').innerText()).toBe('Tenant budget: $0.00 of $50.00 spent this month (0%)');
    await visit('settings-limits', '/settings');
    await page.getByLabel('Per hour').fill('lots');
    await page.getByRole('button', { name: 'Save limits' }).click();
    await page.waitForURL(url('/settings/limits'));
    await axe('settings-limits-refused');
    await shot('settings-limits-refused-1440');
    expect(await page.locator('.error-summary').innerText()).toContain('Requests per hour: must be a number');
    expect(await page.getByLabel('Per hour').inputValue()).toBe('lots');
    await visit('member-limits', `/members/${member.id}/limits`);
    await visit('members-with-limits', '/members');
    await expectNoOverflowAt375(
      page,
      [
        ['overview-budget', url('/')],
        ['settings-limits', url('/settings')],
        ['member-limits', url(`/members/${member.id}/limits`)],
        ['members-with-limits', url('/members')],
      ],
      shot,
    );
  });

  test('no page logged a CSP violation or script error', () => {
    expect(problems).toEqual([]);
  });
});
