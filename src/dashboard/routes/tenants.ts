/**
 * Tenants, for platform admins only (everyone else gets 404): GET /tenants (list and create
 * form), POST /tenants, GET /tenants/:id (rename form), POST /tenants/:id/rename.
 */
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import { userActor } from '../actor';
import { requirePlatformAdmin } from '../policy';
import { requireSignIn } from '../viewer';
import type { DashboardDeps } from './deps';

const tenantForm = z.object({
  name: z.string().max(200).catch(''),
  slug: z.string().max(100).catch(''),
});

/** Field messages of a refused tenant change, or null. */
function errorsOf(error: unknown): Record<string, string> | null {
  if (!(error instanceof AppError) || !error.details || (error.status !== 400 && error.status !== 409)) return null;
  return Object.fromEntries(error.details.map((d) => [d.field, d.message]));
}

/** The tenant routes (see the file comment). */
export function tenantRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();
  const admin = requirePlatformAdmin();

  async function renderList(req: Request, res: Response, extra: { values?: object; errors?: Record<string, string>; status?: number } = {}) {
    const [tenants, memberships] = await Promise.all([ctx.tenants.list(), ctx.users.listAllMemberships()]);
    const stats = await Promise.all(tenants.map((t) => ctx.keys.stats(t.id)));
    pages.send(
      req,
      res,
      'tenants/list',
      {
        title: 'Tenants',
        rows: tenants.map((tenant, i) => ({
          tenant,
          keys: stats[i].total,
          members: memberships.filter((m) => m.tenantId === tenant.id).length,
        })),
        values: extra.values ?? { name: '', slug: '' },
        errors: extra.errors ?? {},
      },
      { status: extra.status },
    );
  }

  // An unknown id answers 404 like any hidden record (the error page does not say which).
  const tenantById = (id: string) => ctx.tenants.getById(id);

  router.get('/tenants', signedIn, admin, (req, res) => renderList(req, res, { values: ctx.dashboard.drafts.take(req, '/tenants') ?? undefined }));

  router.post('/tenants', signedIn, admin, async (req, res) => {
    const values = tenantForm.parse(req.body ?? {});
    try {
      const tenant = await ctx.tenants.create({ name: values.name, slug: values.slug }, userActor(req));
      req.session.flash = { kind: 'success', message: `Created the tenant ${tenant.name}. Add members from the Users page.` };
      res.redirect('/tenants');
    } catch (error) {
      const errors = errorsOf(error);
      if (!errors) throw error;
      await renderList(req, res, { values, errors, status: 400 });
    }
  });

  router.get('/tenants/:id', signedIn, admin, async (req, res) => {
    const tenant = await tenantById(req.params.id as string);
    pages.send(req, res, 'tenants/detail', {
      title: tenant.name,
      tenant,
      members: await ctx.users.membersOf(tenant.id),
      values: { name: tenant.name },
      errors: {},
    });
  });

  router.post('/tenants/:id/rename', signedIn, admin, async (req, res) => {
    const tenant = await tenantById(req.params.id as string);
    const values = tenantForm.parse(req.body ?? {});
    try {
      await ctx.tenants.rename(tenant.id, { name: values.name }, userActor(req));
      req.session.flash = { kind: 'success', message: `Renamed the tenant to ${values.name.trim()}.` };
      res.redirect(`/tenants/${tenant.id}`);
    } catch (error) {
      const errors = errorsOf(error);
      if (!errors) throw error;
      pages.send(
        req,
        res,
        'tenants/detail',
        { title: tenant.name, tenant, members: await ctx.users.membersOf(tenant.id), values, errors },
        { status: 400 },
      );
    }
  });

  return router;
}
