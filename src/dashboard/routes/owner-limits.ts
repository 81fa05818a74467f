/**
 * A member's own limits (the "owner" level: every key they own, together): GET
 * /members/:userId/limits shows them with what is spent and the form to change them; POST saves
 * them through the limits service (audited as owner.limits_update, like PATCH
 * /api/v1/owners/{userId}/limits). For the people who manage the tenant, like every member page;
 * anyone else, and any user who is not a member of this tenant, gets 404.
 */
import { type Request, type Response, Router } from 'express';
import type { OwnerLimitsView } from '@keyward/guard';
import { userActor } from '../actor';
import { LIMITS_FIELD_LABELS, type LimitsFormValues, limitsFormErrors, limitsFormValues, limitsInputFromForm, readLimitsForm } from '../level-limits-form';
import { limitWindows } from '../limits-summary';
import { requireTenantManager } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

/** GET and POST /members/:userId/limits. */
export function ownerLimitRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const steps = [requireSignIn(), requireTenant(pages), requireTenantManager()];

  /** The member's limits; the service answers 404 for anyone who is not a member of this tenant. */
  const limitsOf = (req: Request<{ userId: string }>) => ctx.levels.getOwner(tenantOf(req).tenant.id, req.params.userId);

  function render(req: Request, res: Response, owner: OwnerLimitsView, form?: { values: LimitsFormValues; errors: Record<string, string> }) {
    pages.send(
      req,
      res,
      'members/limits',
      {
        title: `Limits of ${owner.email}`,
        owner,
        windows: limitWindows(owner),
        values: form?.values ?? limitsFormValues(owner),
        errors: form?.errors ?? {},
        labels: LIMITS_FIELD_LABELS,
      },
      { status: form ? 400 : 200 },
    );
  }

  router.get('/members/:userId/limits', ...steps, async (req: Request<{ userId: string }>, res) => {
    render(req, res, await limitsOf(req));
  });

  router.post('/members/:userId/limits', ...steps, async (req: Request<{ userId: string }>, res) => {
    const owner = await limitsOf(req);
    const values = readLimitsForm(req.body);
    try {
      await ctx.levels.updateOwner(tenantOf(req).tenant.id, owner.userId, limitsInputFromForm(values, 'owner'), userActor(req));
    } catch (error) {
      const errors = limitsFormErrors(error);
      if (!errors) throw error;
      render(req, res, owner, { values, errors });
      return;
    }
    req.session.flash = { kind: 'success', message: `Saved the limits of ${owner.email}.` };
    res.redirect(303, '/members');
  });

  return router;
}
