/**
 * The tenant's limits on the settings page (views/settings/limits.ejs): POST /settings/limits
 * saves its budget, request and token windows and alert thresholds through the limits service
 * (audited as tenant.limits_update, like PATCH /api/v1/tenant), for the people who manage the
 * tenant (members get 404, as for the settings page). A refused form comes back on a page of its
 * own (400), every typed value kept and a message beside each bad field: the settings page
 * around it belongs to its other sections.
 */
import { Router } from 'express';
import type { AppContext } from '../../context';
import { userActor } from '../actor';
import { LIMITS_FIELD_LABELS, type LimitsFormValues, limitsFormErrors, limitsFormValues, limitsInputFromForm, readLimitsForm } from '../level-limits-form';
import { limitWindows } from '../limits-summary';
import { requireTenantManager } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

/**
 * What views/settings/limits.ejs needs: the tenant's limits with what is spent, and the form's
 * state (the current limits, or a refused form's values and messages).
 */
export async function tenantLimitsLocals(ctx: AppContext, tenantId: string, form?: { values: LimitsFormValues; errors: Record<string, string> }) {
  const limits = await ctx.levels.getTenant(tenantId);
  return {
    limits,
    limitsWindows: limitWindows(limits),
    limitsValues: form?.values ?? limitsFormValues(limits),
    limitsErrors: form?.errors ?? {},
    limitsLabels: LIMITS_FIELD_LABELS,
  };
}

/** POST /settings/limits. */
export function tenantLimitRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();

  router.post('/settings/limits', requireSignIn(), requireTenant(pages), requireTenantManager(), async (req, res) => {
    const { tenant } = tenantOf(req);
    const values = readLimitsForm(req.body);
    try {
      await ctx.levels.updateTenant(tenant.id, limitsInputFromForm(values, 'tenant'), userActor(req));
    } catch (error) {
      const errors = limitsFormErrors(error);
      if (!errors) throw error;
      pages.send(req, res, 'settings/limits-form', { title: 'Limits', ...(await tenantLimitsLocals(ctx, tenant.id, { values, errors })) }, { status: 400 });
      return;
    }
    req.session.flash = { kind: 'success', message: `Saved the limits of ${tenant.name}.` };
    res.redirect(303, '/settings');
  });

  return router;
}
