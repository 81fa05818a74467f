/**
 * The members of the current tenant, for its owners and admins (and platform admins):
 * GET /members, POST /members (add an existing account), POST /members/:userId/role,
 * GET+POST /members/:userId/remove (with a confirmation step). Everyone else gets 404.
 */
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import { MEMBER_ROLES, type MemberRole } from '../../tenants/tenant-types';
import { userActor } from '../actor';
import { assertMayChangeRole, hidden, requireTenantManager } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

const addSchema = z.object({
  email: z.string().trim().toLowerCase().max(254).catch(''),
  role: z.string().max(20).catch(''),
});
const roleSchema = z.object({ role: z.string().max(20).catch('') });

/** The member routes (see the file comment). */
export function memberRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();
  const steps = [requireTenant(pages), requireTenantManager()];

  async function members(req: Request) {
    return ctx.users.membersOf(tenantOf(req).tenant.id);
  }

  async function renderList(req: Request, res: Response, extra: { values?: object; errors?: Record<string, string>; status?: number } = {}) {
    const viewer = tenantOf(req);
    pages.send(
      req,
      res,
      'members/list',
      {
        title: 'Members',
        members: await members(req),
        roles: MEMBER_ROLES,
        mayGrantOwner: viewer.isPlatformAdmin || viewer.role === 'owner',
        values: extra.values ?? { email: '', role: 'member' },
        errors: extra.errors ?? {},
      },
      { status: extra.status },
    );
  }

  /** A member of the current tenant, else 404. */
  async function memberOf(req: Request, userId: string) {
    const found = (await members(req)).find((m) => m.userId === userId);
    if (!found) throw hidden();
    return found;
  }

  const ownerCount = async (req: Request) => (await members(req)).filter((m) => m.role === 'owner').length;

  router.get('/members', signedIn, ...steps, (req, res) => renderList(req, res));

  router.post('/members', signedIn, ...steps, async (req, res) => {
    const viewer = tenantOf(req);
    const values = addSchema.parse(req.body ?? {});
    const errors: Record<string, string> = {};
    if (!(MEMBER_ROLES as readonly string[]).includes(values.role)) errors.role = 'must be one of owner, admin, member';
    const user = values.email ? await ctx.users.findByEmail(values.email) : null;
    if (!values.email) errors.email = 'is required';
    else if (!user) errors.email = 'has no Keyward account yet: a platform admin creates accounts on the Users page';
    else if (await ctx.users.membershipOf(user.id, viewer.tenant.id)) errors.email = 'is a member already: change the role in the list';
    if (!user || Object.keys(errors).length > 0) {
      await renderList(req, res, { values, errors, status: 400 });
      return;
    }
    try {
      assertMayChangeRole(viewer, { from: null, to: values.role as MemberRole, ownerCount: await ownerCount(req) });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      await renderList(req, res, { values, errors: { role: error.message }, status: 403 });
      return;
    }
    await ctx.users.setMembership(user.id, viewer.tenant.id, values.role, userActor(req));
    req.session.flash = { kind: 'success', message: `Added ${user.email} as ${values.role}.` };
    res.redirect('/members');
  });

  router.post('/members/:userId/role', signedIn, ...steps, async (req, res) => {
    const viewer = tenantOf(req);
    const member = await memberOf(req, req.params.userId as string);
    const { role } = roleSchema.parse(req.body ?? {});
    if ((MEMBER_ROLES as readonly string[]).includes(role)) {
      assertMayChangeRole(viewer, { from: member.role, to: role as MemberRole, ownerCount: await ownerCount(req) });
    }
    await ctx.users.setMembership(member.userId, viewer.tenant.id, role, userActor(req));
    req.session.flash = { kind: 'success', message: `${member.user.email} is now ${role}.` };
    res.redirect('/members');
  });

  router.get('/members/:userId/remove', signedIn, ...steps, async (req, res) => {
    const member = await memberOf(req, req.params.userId as string);
    pages.send(req, res, 'members/remove', { title: 'Remove this member?', member });
  });

  router.post('/members/:userId/remove', signedIn, ...steps, async (req, res) => {
    const viewer = tenantOf(req);
    const member = await memberOf(req, req.params.userId as string);
    assertMayChangeRole(viewer, { from: member.role, to: null, ownerCount: await ownerCount(req) });
    await ctx.users.removeMembership(member.userId, viewer.tenant.id, userActor(req));
    req.session.flash = { kind: 'success', message: `Removed ${member.user.email} from ${viewer.tenant.name}.` };
    res.redirect(member.userId === viewer.user.id ? '/' : '/members');
  });

  return router;
}
