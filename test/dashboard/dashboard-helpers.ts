/**
 * Helpers for dashboard suites: an app with people in two tenants, signed-in supertest agents,
 * and reading CSRF tokens and form errors out of pages.
 */
import request from 'supertest';
import type { DatabaseProvider, ResolvedConfig } from '../../src/config';
import type { WebhookRow } from '../../src/data/repositories/webhooks';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';
import type { Tenant, User } from '../../src/tenants/tenant-types';
import { createTestApp, type TestApp } from '../helpers/app';
import { buildKeyInput, buildTenant, buildUser, testActor } from '../helpers/context';

export const PASSWORD = 'a long enough password';

export type Agent = ReturnType<typeof request.agent>;

/** The CSRF token of the first form in a page. */
export function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error(`no CSRF token in the page:\n${html.slice(0, 500)}`);
  return match[1];
}

/** The session cookie (name=value) a response set, or null. */
export function sessionCookie(res: { headers: Record<string, unknown> }): string | null {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const cookie = cookies.find((c) => /^(__Host-)?keyward\.sid=/.test(c));
  return cookie ? cookie.split(';')[0] : null;
}

/** A cookie-keeping client that asks for HTML, as a browser does. */
export function browser(app: TestApp['app']): Agent {
  return request.agent(app).set('Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
}

/** Signs in through the form; returns the agent (cookies kept) and the sign-in response. */
export async function signIn(app: TestApp['app'], email: string, password = PASSWORD, agent: Agent = browser(app)) {
  const page = await agent.get('/login').expect(200);
  const res = await agent.post('/login').type('form').send({ email, password, _csrf: csrfOf(page.text) });
  return { agent, res };
}

/** Signs in and fails the test unless it worked. */
export async function signedIn(app: TestApp['app'], email: string, password = PASSWORD): Promise<Agent> {
  const { agent, res } = await signIn(app, email, password);
  if (res.status !== 302 || res.headers.location !== '/') {
    throw new Error(`sign-in of ${email} failed: ${res.status}\n${res.text.slice(0, 500)}`);
  }
  return agent;
}

/** GETs a page and returns its HTML and a fresh CSRF token from it. */
export async function form(agent: Agent, path: string): Promise<{ html: string; csrf: string }> {
  const res = await agent.get(path).expect(200);
  return { html: res.text, csrf: csrfOf(res.text) };
}

/** A urlencoded body as a browser sends it: arrays as repeated fields (checkboxes). */
export function formBody(body: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(body)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null) params.append(name, String(item));
    }
  }
  return params.toString();
}

/** POSTs a form with the session's CSRF token (read from the page `from`, default the account page). */
export async function post(agent: Agent, path: string, body: Record<string, unknown> = {}, from = '/account') {
  const { csrf } = await form(agent, from);
  return agent.post(path).type('form').send(formBody({ ...body, _csrf: csrf }));
}

/** The field error shown beside a field, or null. */
export function fieldError(html: string, field: string): string | null {
  const match = new RegExp(`id="${field}-error"><span class="visually-hidden">Error: </span>([^<]*)<`).exec(html);
  return match ? decode(match[1]) : null;
}

/** The value of an input, or the text of a textarea, by name (HTML entities decoded). */
export function fieldValue(html: string, name: string): string | null {
  const input = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html);
  if (input) return decode(input[1]);
  const textarea = new RegExp(`<textarea[^>]*name="${name}"[^>]*>([^<]*)</textarea>`).exec(html);
  return textarea ? decode(textarea[1]) : null;
}

export function decode(text: string): string {
  return text
    .replace(/&#34;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export interface World extends TestApp {
  admin: User; // platform admin, owner of `tenant`
  owner: User; // owner of `tenant`
  member: User; // member of `tenant`
  otherMember: User; // another member of `tenant`
  other: Tenant; // a second tenant
  outsider: User; // owner of `other` only
  keys: {
    member: ApiKeyRecord; // owned by member
    otherMember: ApiKeyRecord; // owned by otherMember
    otherTenant: ApiKeyRecord; // in `other`
  };
  webhooks: {
    tenant: WebhookRow; // in `tenant`
    otherTenant: WebhookRow; // in `other`
  };
}

/** An app with a platform admin, an owner, two members, a second tenant with its owner, and keys. */
export async function createWorld(
  options: { config?: Partial<ResolvedConfig>; clock?: () => Date; provider?: DatabaseProvider } = {},
): Promise<World> {
  const t = await createTestApp(options.provider ?? 'sqlite', options);
  const { ctx, tenant } = t;
  const other = await buildTenant(ctx, { name: 'Other Co' });
  const admin = await buildUser(ctx, tenant, { email: `admin-${tenant.slug}@example.com`, role: 'owner', isPlatformAdmin: true });
  const owner = await buildUser(ctx, tenant, { email: `owner-${tenant.slug}@example.com`, role: 'owner' });
  const member = await buildUser(ctx, tenant, { email: `member-${tenant.slug}@example.com`, role: 'member' });
  const otherMember = await buildUser(ctx, tenant, { email: `member2-${tenant.slug}@example.com`, role: 'member' });
  const outsider = await buildUser(ctx, other, { email: `outsider-${tenant.slug}@example.com`, role: 'owner' });
  const issue = async (tenantId: string, ownerId: string, name: string) =>
    (await ctx.keys.create(tenantId, buildKeyInput({ name, ownerId }), testActor)).apiKey;
  return {
    ...t,
    admin,
    owner,
    member,
    otherMember,
    other,
    outsider,
    keys: {
      member: await issue(tenant.id, member.id, 'member key'),
      otherMember: await issue(tenant.id, otherMember.id, 'other member key'),
      otherTenant: await issue(other.id, outsider.id, 'other tenant key'),
    },
    webhooks: {
      tenant: (await ctx.webhooks.create(tenant.id, { url: 'https://example.com/hooks/tenant', events: ['key.revoked'] }, testActor)).webhook,
      otherTenant: (await ctx.webhooks.create(other.id, { url: 'https://example.com/hooks/other', events: ['key.revoked'] }, testActor)).webhook,
    },
  };
}

/**
 * What the dashboard can change, as comparable JSON: keys (settings, state, secrets), people,
 * memberships, tenants, webhooks with their deliveries, and the audit log. Sessions are left out
 * (every request touches its own).
 */
export async function snapshot(w: TestApp): Promise<string> {
  const db = w.ctx.database.prisma;
  const [keys, tags, users, memberships, tenants, audit, webhooks, deliveries] = await Promise.all([
    db.apiKey.findMany({ orderBy: { id: 'asc' } }),
    db.apiKeyTag.findMany({ orderBy: [{ keyId: 'asc' }, { tag: 'asc' }] }),
    db.user.findMany({ orderBy: { id: 'asc' } }),
    db.membership.findMany({ orderBy: [{ userId: 'asc' }, { tenantId: 'asc' }] }),
    db.tenant.findMany({ orderBy: { id: 'asc' } }),
    db.auditEvent.count(),
    db.webhook.findMany({ orderBy: { id: 'asc' } }),
    db.webhookDelivery.findMany({ orderBy: { id: 'asc' } }),
  ]);
  return JSON.stringify({ keys, tags, users, memberships, tenants, audit, webhooks, deliveries }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}
