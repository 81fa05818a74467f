/**
 * The settings page's Webhooks and Recent alerts sections: who sees them, adding a webhook from
 * the form (secret shown once), refused input with the error summary, enable/disable, rotation and
 * deletion behind confirmations, the delivery log with "Send test event" and "Redeliver".
 */
import { buildKeyInput, testActor } from '../helpers/context';
import { eventually, startReceiver, type Receiver } from '../helpers/webhook-receiver';
import { type Agent, createWorld, decode, fieldError, form, post, signedIn, type World } from './dashboard-helpers';

let w: World;
let owner: Agent;
let hook: Receiver;

beforeAll(async () => {
  w = await createWorld({ config: { webhooks: { allowPrivate: true, pollMs: 25 } } });
  owner = await signedIn(w.app, w.owner.email);
  hook = await startReceiver();
});
afterAll(async () => {
  await w.close();
  await hook.close();
});

const secretIn = (html: string) => /id="secret"[^>]*value="(whsec_[^"]+)"/.exec(html)?.[1] ?? null;

test('owners and admins get Settings in the navigation; members neither the link nor the page', async () => {
  const page = await owner.get('/settings').expect(200);
  expect(page.text).toContain('href="/settings" aria-current="page"');
  expect(page.text).toContain('<h2 id="webhooks-title">Webhooks</h2>');
  expect(page.text).toContain('<h2 id="alerts-title">Recent alerts</h2>');
  expect(page.text).toContain(w.webhooks.tenant.url);
  expect(page.text).not.toContain(w.webhooks.otherTenant.url);
  const member = await signedIn(w.app, w.member.email);
  expect((await member.get('/keys').expect(200)).text).not.toContain('href="/settings"');
  await member.get('/settings').expect(404);
});

test('adding a webhook: the secret is shown once, on a no-store page, and the webhook listed', async () => {
  const res = await post(owner, '/settings/webhooks', { url: hook.url, events: ['key.revoked', 'key.new_ip'], description: 'pager' }, '/settings');
  expect(res.status).toBe(302);
  const secretPage = await owner.get(res.headers.location as string).expect(200);
  expect(secretPage.headers['cache-control']).toBe('no-store');
  const secret = secretIn(secretPage.text);
  expect(secret).toMatch(/^whsec_/);
  const again = await owner.get(res.headers.location as string).expect(200);
  expect(secretIn(again.text)).toBeNull();
  expect(again.text).toContain('The secret was shown already');
  const created = await w.ctx.database.prisma.webhook.findFirstOrThrow({ where: { description: 'pager' } });
  expect(created).toMatchObject({ url: hook.url, events: 'key.revoked,key.new_ip', enabled: true, tenantId: w.tenant.id });
  expect(created.secretSealed).not.toContain((secret as string).slice(6));
  const audit = await w.ctx.database.prisma.auditEvent.findFirstOrThrow({ where: { targetId: created.id, action: 'webhook.create' } });
  expect(audit).toMatchObject({ actorType: 'user', actorId: w.owner.id, targetType: 'webhook' });
});

test('refused input: 400 with the error summary and field errors, values kept, nothing written', async () => {
  const before = await w.ctx.database.prisma.webhook.count();
  const res = await post(owner, '/settings/webhooks', { url: 'ftp://example.com/x', description: 'kept text' }, '/settings');
  expect(res.status).toBe(400);
  expect(res.text).toContain('class="error-summary"');
  expect(res.text).toContain('<a href="#f-url">URL</a>');
  expect(res.text).toContain('<a href="#f-events">Events</a>');
  expect(fieldError(res.text, 'url')).toBe('Must use http or https.');
  expect(fieldError(res.text, 'events')).toBe('Must name at least one event.');
  expect(res.text).toContain('aria-invalid="true"');
  expect(decode(res.text)).toContain('value="kept text"');
  expect(await w.ctx.database.prisma.webhook.count()).toBe(before);
});

test('disable and enable, rotate behind a confirmation (new secret shown once), delete behind a confirmation', async () => {
  const { webhook, secret } = await w.ctx.webhooks.create(w.tenant.id, { url: hook.url, events: ['key.expired'], description: 'cycle' }, testActor);
  expect((await post(owner, `/settings/webhooks/${webhook.id}/disable`, {}, '/settings')).status).toBe(302);
  expect((await w.ctx.webhooks.get(w.tenant.id, webhook.id)).enabled).toBe(false);
  expect((await owner.get('/settings').expect(200)).text).toContain(`action="/settings/webhooks/${webhook.id}/enable"`);
  await post(owner, `/settings/webhooks/${webhook.id}/enable`, {}, '/settings');
  expect((await w.ctx.webhooks.get(w.tenant.id, webhook.id)).enabled).toBe(true);

  const confirm = await form(owner, `/settings/webhooks/${webhook.id}/rotate`);
  expect(confirm.html).toContain('Rotate the signing secret?');
  const rotated = await owner.post(`/settings/webhooks/${webhook.id}/rotate`).type('form').send({ _csrf: confirm.csrf });
  expect(rotated.headers.location).toBe(`/settings/webhooks/${webhook.id}/secret`);
  const fresh = secretIn((await owner.get(rotated.headers.location as string).expect(200)).text);
  expect(fresh).toMatch(/^whsec_/);
  expect(fresh).not.toBe(secret);

  const remove = await form(owner, `/settings/webhooks/${webhook.id}/delete`);
  expect(remove.html).toContain('Delete this webhook?');
  expect(await w.ctx.database.prisma.webhook.count({ where: { id: webhook.id } })).toBe(1);
  const deleted = await owner.post(`/settings/webhooks/${webhook.id}/delete`).type('form').send({ _csrf: remove.csrf });
  expect(deleted.headers.location).toBe('/settings');
  expect(await w.ctx.database.prisma.webhook.count({ where: { id: webhook.id } })).toBe(0);
  expect((await owner.get('/settings').expect(200)).text).toContain('Webhook deleted.');
});

test('the delivery log: test event, status and attempts, redeliver; alerts listed under Recent alerts', async () => {
  const { webhook } = await w.ctx.webhooks.create(w.tenant.id, { url: hook.url, events: ['key.revoked'] }, testActor);
  const empty = await owner.get(`/settings/webhooks/${webhook.id}`).expect(200);
  expect(empty.text).toContain('No deliveries yet.');
  expect((await post(owner, `/settings/webhooks/${webhook.id}/test`, {}, '/settings')).status).toBe(302);
  await eventually(async () => (await w.ctx.webhooks.deliveries(w.tenant.id, webhook.id))[0]?.status === 'delivered');
  const log = await owner.get(`/settings/webhooks/${webhook.id}`).expect(200);
  expect(log.text).toContain('<code>webhook.test</code>');
  expect(log.text).toMatch(/<td data-label="Status"><span class="badge badge-active">delivered<\/span><\/td>\s*<td data-label="Attempts">1<\/td>\s*<td data-label="Last answer">HTTP 200/);

  const [delivery] = await w.ctx.webhooks.deliveries(w.tenant.id, webhook.id);
  const received = hook.received.length;
  expect((await post(owner, `/settings/webhooks/${webhook.id}/redeliver`, { delivery: delivery.id }, '/settings')).status).toBe(302);
  await hook.waitFor(received + 1);
  await eventually(async () => (await w.ctx.webhooks.deliveries(w.tenant.id, webhook.id))[0]?.attempts === 2);
  // Another webhook's delivery id reads as missing.
  expect((await post(owner, `/settings/webhooks/${w.webhooks.tenant.id}/redeliver`, { delivery: delivery.id }, '/settings')).status).toBe(404);

  const { apiKey } = await w.ctx.keys.create(w.tenant.id, buildKeyInput({ name: 'alerting key' }), testActor);
  await w.ctx.keys.revoke(w.tenant.id, apiKey.id, testActor);
  await eventually(async () => (await w.ctx.alerts.listRecent(w.tenant.id, 5)).some((a) => a.type === 'key.revoked'));
  const page = await owner.get('/settings').expect(200);
  expect(page.text).toContain('<code>key.revoked</code>');
  expect(page.text).toContain(`<a href="/keys/${apiKey.id}">alerting key</a>`);
});
