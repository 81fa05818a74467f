/**
 * The members of the current tenant, for its owners and admins (and platform admins):
 * GET /members, POST /members (add an existing account), GET+POST /members/:userId/role and
 * GET+POST /members/:userId/remove (each with a confirmation step). The tenant's only owner is
 * offered neither (the page says why). The list shows each member's own limits (owner-limits.ts
 * has their page). Everyone else gets 404.
 */
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import { MEMBER_ROLES, type MemberRole } from '../../tenants/tenant-types';
import { userActor } from '../actor';
import { limitWindows } from '../limits-summary';
import { assertMayChangeRole, hidden, requireTenantManager } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

const addSchema = z.object({
  email: z.string().trim().toLowerCase().max(254).catch(''),
  role: z.string().max(20).catch(''),
});
const roleSchema = z.object({ role: z.string().max(20).catch('') });

/** What each role may do, for the role-change confirmation. */
const ROLE_MEANS: Record<MemberRole, string> = {
  owner: 'Owners manage every key and member, and grant or change the owner role.',
  admin: 'Admins manage every key and member, except owners.',
  member: 'Members see and manage only their own keys.',
};

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
    const [list, limits] = await Promise.all([members(req), ctx.levels.listOwners(viewer.tenant.id)]);
    pages.send(
      req,
      res,
      'members/list',
      {
        title: 'Members',
        members: list,
        owners: list.filter((m) => m.role === 'owner').length,
        roles: MEMBER_ROLES,
        mayGrantOwner: viewer.isPlatformAdmin || viewer.role === 'owner',
        // Each member's own limits (owner-limits.ts): budget and windows in words, by user id.
        limits: new Map(limits.map((l) => [l.userId, { budget: l.budget, windows: limitWindows(l) }])),
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

  router.get('/members', signedIn, ...steps, (req, res) => renderList(req, res, { values: ctx.dashboard.drafts.take(req, '/members') ?? undefined }));

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

  /** Why a member's role cannot be changed (or they cannot be removed) by this viewer, or null. */
  async function refusalFor(req: Request, member: { role: MemberRole }, to: MemberRole | null): Promise<string | null> {
    try {
      assertMayChangeRole(tenantOf(req), { from: member.role, to, ownerCount: await ownerCount(req) });
      return null;
    } catch (error) {
      if (error instanceof AppError && error.status === 403) return error.message;
      throw error;
    }
  }

  router.get('/members/:userId/role', signedIn, ...steps, async (req, res) => {
    const viewer = tenantOf(req);
    const member = await memberOf(req, req.params.userId as string);
    const wanted = roleSchema.parse(req.query).role;
    const mayGrantOwner = viewer.isPlatformAdmin || viewer.role === 'owner';
    const offered = MEMBER_ROLES.filter((r) => r !== 'owner' || mayGrantOwner);
    const selected = (offered as readonly string[]).includes(wanted) ? (wanted as MemberRole) : member.role;
    // Any change away from the current role must be allowed (the only owner stays owner).
    const refusal = await refusalFor(req, member, member.role === 'owner' ? 'member' : member.role);
    pages.send(req, res, 'confirm', {
      title: `Change the role of ${member.user.email}?`,
      confirm: {
        crumbs: [['Members', '/members']],
        explain: [
          `${member.user.email} is ${member.role === 'member' ? 'a' : 'an'} ${member.role} of ${viewer.tenant.name}. The new role applies to their next page.`,
          ...offered.map((r) => ROLE_MEANS[r]),
          ...(member.userId === viewer.user.id ? ['This is your own membership: a lower role may take this page away from you.'] : []),
        ],
        action: `/members/${member.userId}/role`,
        button: 'Change role',
        danger: false,
        cancel: '/members',
        choice: { name: 'role', label: 'New role', options: offered.map((r) => [r, r]), selected },
        refusal,
      },
    });
  });

  router.post('/members/:userId/role', signedIn, ...steps, async (req, res) => {
    const viewer = tenantOf(req);
    const member = await memberOf(req, req.params.userId as string);
    const { role } = roleSchema.parse(req.body ?? {});
    if (role === member.role) {
      req.session.flash = { kind: 'info', message: `${member.user.email} is ${role} already; nothing changed.` };
      res.redirect('/members');
      return;
    }
    if ((MEMBER_ROLES as readonly string[]).includes(role)) {
      assertMayChangeRole(viewer, { from: member.role, to: role as MemberRole, ownerCount: await ownerCount(req) });
    }
    await ctx.users.setMembership(member.userId, viewer.tenant.id, role, userActor(req));
    req.session.flash = { kind: 'success', message: `${member.user.email} is now ${role}.` };
    res.redirect('/members');
  });

  router.get('/members/:userId/remove', signedIn, ...steps, async (req, res) => {
    const member = await memberOf(req, req.params.userId as string);
    pages.send(req, res, 'members/remove', { title: 'Remove this member?', member, refusal: await refusalFor(req, member, null) });
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
