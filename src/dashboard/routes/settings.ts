/**
 * The tenant's settings page, for its owners and admins (and platform admins; members get 404):
 * GET /settings shows (in order) the tenant's limits (views/settings/limits.ejs), its webhooks
 * with the form to add one, and its recent alerts; POST /settings/webhooks adds a webhook and
 * shows its signing secret once (webhook-actions.ts has the per-webhook pages).
 */
import { type Request, type Response, Router } from 'express';
import { SUBSCRIBABLE_TYPES } from '../../alerts/alert-types';
import { userActor } from '../actor';
import { requireTenantManager } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import { readWebhookForm, WEBHOOK_FIELD_LABELS, type WebhookFormValues, webhookFormErrors } from '../webhook-form';
import type { DashboardDeps } from './deps';
import { tenantLimitsLocals } from './tenant-limits';
import { stashWebhookSecret } from './webhook-actions';

/** What each alert type means, for the event checkboxes. */
export const EVENT_LABELS: Record<string, string> = {
  'budget.threshold': 'A budget reached an alert threshold',
  'quota.threshold': 'A request quota reached an alert threshold',
  'key.expiring': 'A key expires in 7 days, or in 1 day',
  'key.expired': 'A key expired',
  'key.revoked': 'A key was revoked',
  'key.new_ip': 'A key (with new-address alerts on) was used from a new address',
  'webhook.test': 'Test event',
};

/** GET /settings and POST /settings/webhooks. */
export function settingsRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const steps = [requireSignIn(), requireTenant(pages), requireTenantManager()];

  async function render(req: Request, res: Response, form: { values?: WebhookFormValues; errors?: Record<string, string>; status?: number } = {}) {
    const tenantId = tenantOf(req).tenant.id;
    const [webhooks, alerts] = await Promise.all([ctx.webhooks.list(tenantId), ctx.alerts.listRecent(tenantId, 20)]);
    pages.send(
      req,
      res,
      'settings/index',
      {
        title: 'Settings',
        webhooks,
        alerts,
        eventTypes: SUBSCRIBABLE_TYPES,
        eventLabels: EVENT_LABELS,
        values: form.values ?? { url: '', events: ['key.revoked', 'key.expiring', 'key.expired'], description: '' },
        errors: form.errors ?? {},
        labels: WEBHOOK_FIELD_LABELS,
        // For views/settings/limits.ejs: the tenant's limits and the limits form (tenant-limits.ts).
        ...(await tenantLimitsLocals(ctx, tenantId)),
      },
      { status: form.status },
    );
  }

  router.get('/settings', ...steps, (req, res) => render(req, res));

  router.post('/settings/webhooks', ...steps, async (req, res) => {
    const { input, values } = readWebhookForm(req.body);
    try {
      const { webhook, secret } = await ctx.webhooks.create(tenantOf(req).tenant.id, input, userActor(req));
      stashWebhookSecret(ctx, req, webhook.id, secret as string);
      res.redirect(`/settings/webhooks/${webhook.id}/secret`);
    } catch (error) {
      const errors = webhookFormErrors(error);
      if (!errors) throw error;
      await render(req, res, { values, errors, status: 400 });
    }
  });

  return router;
}
