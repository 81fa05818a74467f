/**
 * One webhook's pages, for tenant managers: its delivery log (GET /settings/webhooks/:id) with
 * "Redeliver" per delivery and "Send test event"; enable and disable; rotate the secret and
 * delete, each behind a confirmation page; and the one-time secret page after create or rotation
 * (the secret waits sealed in the session and is removed when shown, like a key's).
 */
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../../context';
import type { WebhookRow } from '../../data/repositories/webhooks';
import { userActor } from '../actor';
import { hidden, requireTenantManager } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

declare module 'express-session' {
  interface SessionData {
    /** A new webhook secret waiting for its one-time page, sealed by SecretBox. */
    webhookSecret?: { webhookId: string; sealed: string };
  }
}

/** Keeps a new webhook secret for its one-time page. */
export function stashWebhookSecret(ctx: AppContext, req: Request, webhookId: string, secret: string): void {
  req.session.webhookSecret = { webhookId, sealed: ctx.dashboard.secrets.seal(secret) };
}

/** The per-webhook routes (see the file comment). */
export function webhookActionRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const steps = [requireSignIn(), requireTenant(pages), requireTenantManager()];

  /** A webhook of the current tenant, else the 404 page. */
  async function webhookOf(req: Request): Promise<WebhookRow> {
    const id = String(req.params.id);
    try {
      return await ctx.webhooks.get(tenantOf(req).tenant.id, id);
    } catch {
      throw hidden();
    }
  }

  const done = (req: Request, res: Response, message: string, to: string) => {
    req.session.flash = { kind: 'success', message };
    res.redirect(to);
  };

  router.get('/settings/webhooks/:id', ...steps, async (req, res) => {
    const webhook = await webhookOf(req);
    const deliveries = await ctx.webhooks.deliveries(tenantOf(req).tenant.id, webhook.id, 50);
    pages.send(req, res, 'settings/webhook', { title: `Webhook ${new URL(webhook.url).host}`, webhook, deliveries });
  });

  router.get('/settings/webhooks/:id/secret', ...steps, async (req, res) => {
    const webhook = await webhookOf(req);
    const stashed = req.session.webhookSecret;
    let secret: string | null = null;
    if (stashed && stashed.webhookId === webhook.id) {
      secret = ctx.dashboard.secrets.open(stashed.sealed);
      delete req.session.webhookSecret;
    }
    pages.send(req, res, 'settings/webhook-secret', { title: secret ? 'Copy the signing secret' : 'Secret already shown', webhook, secret }, { noStore: true });
  });

  for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
    router.post(`/settings/webhooks/:id/${action}`, ...steps, async (req, res) => {
      const webhook = await webhookOf(req);
      await ctx.webhooks.update(webhook.tenantId, webhook.id, { enabled }, userActor(req));
      done(req, res, `Webhook ${enabled ? 'enabled' : 'disabled'}.`, '/settings');
    });
  }

  router.post('/settings/webhooks/:id/test', ...steps, async (req, res) => {
    const webhook = await webhookOf(req);
    if (!webhook.enabled) {
      req.session.flash = { kind: 'error', message: 'This webhook is disabled: enable it to send a test event.' };
      res.redirect(`/settings/webhooks/${webhook.id}`);
      return;
    }
    await ctx.webhooks.sendTest(webhook.tenantId, webhook.id, userActor(req));
    done(req, res, 'Test event queued: it appears in the log below within seconds.', `/settings/webhooks/${webhook.id}`);
  });

  router.post('/settings/webhooks/:id/redeliver', ...steps, async (req, res) => {
    const webhook = await webhookOf(req);
    const deliveryId = String((req.body as { delivery?: unknown } | undefined)?.delivery ?? '');
    try {
      await ctx.webhooks.redeliver(webhook.tenantId, webhook.id, deliveryId, userActor(req));
    } catch {
      throw hidden();
    }
    ctx.webhookDeliverer.wake();
    done(req, res, 'Delivery queued again.', `/settings/webhooks/${webhook.id}`);
  });

  const confirmations = {
    rotate: {
      title: 'Rotate the signing secret?',
      explain: ['A new secret replaces the current one at once: deliveries from now on are signed with it only. Update your receiver right after copying it.'],
      button: 'Rotate secret',
      run: async (req: Request, res: Response, webhook: WebhookRow) => {
        const { secret } = await ctx.webhooks.update(webhook.tenantId, webhook.id, { rotateSecret: true }, userActor(req));
        stashWebhookSecret(ctx, req, webhook.id, secret as string);
        res.redirect(`/settings/webhooks/${webhook.id}/secret`);
      },
    },
    delete: {
      title: 'Delete this webhook?',
      explain: ['Alerts stop going to this URL, and its delivery log is deleted. Alerts themselves stay listed.'],
      button: 'Delete webhook',
      run: async (req: Request, res: Response, webhook: WebhookRow) => {
        await ctx.webhooks.delete(webhook.tenantId, webhook.id, userActor(req));
        done(req, res, 'Webhook deleted.', '/settings');
      },
    },
  };

  for (const [name, step] of Object.entries(confirmations)) {
    router.get(`/settings/webhooks/:id/${name}`, ...steps, async (req, res) => {
      const webhook = await webhookOf(req);
      pages.send(req, res, 'confirm', {
        title: step.title,
        confirm: {
          crumbs: [['Settings', '/settings'], [new URL(webhook.url).host, `/settings/webhooks/${webhook.id}`]],
          explain: [`Webhook: ${webhook.url}`, ...step.explain],
          action: `/settings/webhooks/${webhook.id}/${name}`,
          button: step.button,
          danger: true,
          cancel: `/settings/webhooks/${webhook.id}`,
          choice: null,
          refusal: null,
        },
      });
    });
    router.post(`/settings/webhooks/:id/${name}`, ...steps, async (req, res) => step.run(req, res, await webhookOf(req)));
  }

  return router;
}
