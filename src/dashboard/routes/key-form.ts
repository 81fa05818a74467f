/**
 * Create and edit a key: GET /keys/new, POST /keys, GET /keys/:id/edit, POST /keys/:id/edit.
 * Steps of a submit: CSRF (router-wide) → tenant and record access → form → key input → key
 * service (which validates and audits). Invalid input re-renders the form with a message beside
 * each bad field and every value kept. A new key goes on to its one-time secret page.
 */
import { type Request, type Response, Router } from 'express';
import { AppError } from '../../errors';
import { type ApiKeyRecord, TIER_LIMITS, TIERS } from '@keyward/guard';
import { userActor } from '../actor';
import { all, assertValidKeyForm, type FormValues, formErrors, formValuesOf, type KeyFormContext } from '../key-form';
import { keyLimitsOf, visibleKey } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';
import { stashSecret } from './key-secret';

/** The create and edit routes of keys. */
export function keyFormRoutes(deps: DashboardDeps): Router {
  const { ctx, pages } = deps;
  const router = Router();
  const signedIn = requireSignIn();

  async function renderForm(
    req: Request,
    res: Response,
    options: { key: ApiKeyRecord | null; values: FormValues; errors?: Record<string, string>; status?: number },
  ) {
    const viewer = tenantOf(req);
    const members = viewer.managesTenant ? await ctx.users.membersOf(viewer.tenant.id) : [];
    const models = [...new Set([...ctx.models.keys(), ...all(options.values, 'allowedModels')])];
    pages.send(
      req,
      res,
      'keys/form',
      {
        title: options.key ? `Edit ${options.key.name}` : 'Create a key',
        key: options.key,
        values: options.values,
        errors: options.errors ?? {},
        members,
        models,
        tiers: TIERS.map((tier) => ({ tier, limits: TIER_LIMITS[tier] })),
        chooseOwner: viewer.managesTenant,
      },
      { status: options.status },
    );
  }

  function context(req: Request, mode: 'create' | 'edit', key?: ApiKeyRecord): KeyFormContext {
    const viewer = tenantOf(req);
    return { mode, chooseOwner: viewer.managesTenant, viewerId: viewer.user.id, key };
  }

  /** Field messages of a refused submit, or null when the error is not about the input. */
  function inputErrors(error: unknown): Record<string, string> | null {
    if (error instanceof AppError && error.status === 400 && error.details) return formErrors(error.details);
    return null;
  }

  router.get('/keys/new', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    // A form kept from a session that ended comes back as it was typed.
    const kept = ctx.dashboard.drafts.take(req, '/keys/new');
    const values = kept ?? formValuesOf(null);
    if (!kept && viewer.role) values.ownerId = viewer.user.id;
    await renderForm(req, res, { key: null, values });
  });

  router.post('/keys', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const values = (req.body ?? {}) as FormValues;
    try {
      const input = assertValidKeyForm(values, context(req, 'create'), ctx.dashboard.clock());
      const issued = await ctx.keys.create(viewer.tenant.id, input, userActor(req), keyLimitsOf(req));
      stashSecret(ctx, req, issued, 'create');
      res.redirect(`/keys/${issued.apiKey.id}/secret`);
    } catch (error) {
      const errors = inputErrors(error);
      if (!errors) throw error;
      await renderForm(req, res, { key: null, values, errors, status: 400 });
    }
  });

  router.get('/keys/:id/edit', signedIn, requireTenant(pages), async (req, res) => {
    const key = await visibleKey(ctx, req, req.params.id as string);
    await renderForm(req, res, { key, values: ctx.dashboard.drafts.take(req, `/keys/${key.id}/edit`) ?? formValuesOf(key) });
  });

  router.post('/keys/:id/edit', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const key = await visibleKey(ctx, req, req.params.id as string);
    const values = (req.body ?? {}) as FormValues;
    try {
      const input = assertValidKeyForm(values, context(req, 'edit', key), ctx.dashboard.clock());
      await ctx.keys.update(viewer.tenant.id, key.id, input, userActor(req), keyLimitsOf(req));
      req.session.flash = { kind: 'success', message: `Saved the changes to ${input.name as string}.` };
      res.redirect(`/keys/${key.id}`);
    } catch (error) {
      const errors = inputErrors(error);
      if (!errors) throw error;
      await renderForm(req, res, { key, values, errors, status: 400 });
    }
  });

  return router;
}
