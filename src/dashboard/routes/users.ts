/**
 * People, for platform admins only (everyone else gets 404): GET /users (search and pages, and
 * the create form), POST /users, GET /users/:id, GET+POST /users/:id/disable|enable (disabling
 * ends their sessions), POST /users/:id/memberships (assign a tenant and role), GET
 * /users/:id/memberships/:tenantId/role (confirm a role change, then that POST),
 * GET+POST /users/:id/memberships/:tenantId/remove, GET/POST /users/:id/password (set a new
 * password: every session of theirs ends, yours too if it is your own account, and you sign in
 * again). Every change but creating and adding has a confirmation step (GET shows, POST does).
 */
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import { MEMBER_ROLES, type MemberRole, type User } from '../../tenants/tenant-types';
import { userActor } from '../actor';
import { paginate } from '../links';
import { assertMayChangeRole, hidden, requirePlatformAdmin } from '../policy';
import { clearSessionCookie } from '../session';
import { requireSignIn, viewerOf } from '../viewer';
import type { DashboardDeps } from './deps';

const createForm = z.object({
  email: z.string().max(300).catch(''),
  name: z.string().max(200).catch(''),
  password: z.string().max(1024).catch(''),
  isPlatformAdmin: z.literal('on').optional().catch(undefined),
  tenantId: z.string().max(64).catch(''),
  role: z.string().max(20).catch('member'),
});
const membershipForm = z.object({ tenantId: z.string().max(64).catch(''), role: z.string().max(20).catch('') });
const passwordForm = z.object({ newPassword: z.string().max(1024).catch(''), confirmPassword: z.string().max(1024).catch('') });
const listQuery = z.object({
  q: z.string().trim().max(200).optional().catch(undefined),
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1),
});
const roleQuery = z.object({ role: z.string().max(20).optional().catch(undefined) });

const PAGE_SIZE = 50;

/** The user routes (see the file comment). */
export function userRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();
  const admin = requirePlatformAdmin();

  async function renderList(req: Request, res: Response, extra: { values?: object; errors?: Record<string, string>; status?: number } = {}) {
    const query = listQuery.parse(req.query);
    const [found, tenants] = await Promise.all([ctx.users.search({ search: query.q, page: query.page, size: PAGE_SIZE }), ctx.tenants.list()]);
    const memberships = await ctx.users.membershipsOf(found.data.map((u) => u.id));
    pages.send(
      req,
      res,
      'users/list',
      {
        title: 'Users',
        rows: found.data.map((user) => ({ user, memberships: memberships.filter((m) => m.userId === user.id) })),
        query,
        pagination: paginate('/users', { q: query.q }, query.page, PAGE_SIZE, found.total),
        tenants,
        roles: MEMBER_ROLES,
        values: extra.values ?? { email: '', name: '', tenantId: '', role: 'member' },
        errors: extra.errors ?? {},
      },
      { status: extra.status },
    );
  }

  async function userById(id: string) {
    const user = await ctx.users.findById(id);
    if (!user) throw hidden();
    return user;
  }

  async function ownerCount(tenantId: string) {
    return (await ctx.users.membersOf(tenantId)).filter((m) => m.role === 'owner').length;
  }

  router.get('/users', signedIn, admin, (req, res) => renderList(req, res, { values: ctx.dashboard.drafts.take(req, '/users') ?? undefined }));

  router.post('/users', signedIn, admin, async (req, res) => {
    const values = createForm.parse(req.body ?? {});
    const { password: _password, ...kept } = values; // never echo a password back into the page
    const errors: Record<string, string> = {};
    const tenant = values.tenantId ? (await ctx.tenants.list()).find((t) => t.id === values.tenantId) : null;
    if (values.tenantId && !tenant) errors.tenantId = 'is not a tenant';
    if (tenant && !(MEMBER_ROLES as readonly string[]).includes(values.role)) errors.role = 'must be one of owner, admin, member';
    if (Object.keys(errors).length > 0) {
      await renderList(req, res, { values: kept, errors, status: 400 });
      return;
    }
    try {
      const user = await ctx.users.create(
        { email: values.email, password: values.password, name: values.name.trim() || undefined, isPlatformAdmin: values.isPlatformAdmin === 'on' },
        userActor(req),
      );
      if (tenant) await ctx.users.setMembership(user.id, tenant.id, values.role, userActor(req));
      req.session.flash = { kind: 'success', message: `Created ${user.email}${tenant ? ` as ${values.role} of ${tenant.name}` : ''}.` };
      res.redirect(`/users/${user.id}`);
    } catch (error) {
      if (!(error instanceof AppError) || !error.details || (error.status !== 400 && error.status !== 409)) throw error;
      await renderList(req, res, {
        values: kept,
        errors: Object.fromEntries(error.details.map((d) => [d.field, d.message])),
        status: 400,
      });
    }
  });

  router.get('/users/:id', signedIn, admin, async (req, res) => {
    const user = await userById(req.params.id as string);
    const [memberships, tenants] = await Promise.all([ctx.users.tenantsOf(user.id), ctx.tenants.list()]);
    pages.send(req, res, 'users/detail', {
      title: user.email,
      user,
      memberships,
      tenants: tenants.filter((t) => !memberships.some((m) => m.tenantId === t.id)),
      roles: MEMBER_ROLES,
      self: user.id === viewerOf(req).user.id,
    });
  });

  for (const [path, disabled] of [['disable', true], ['enable', false]] as const) {
    router.get(`/users/:id/${path}`, signedIn, admin, async (req, res) => {
      const user = await userById(req.params.id as string);
      const self = user.id === viewerOf(req).user.id;
      pages.send(req, res, 'confirm', {
        title: disabled ? `Disable ${user.email}?` : `Enable ${user.email}?`,
        confirm: {
          crumbs: [['Users', '/users'], [user.email, `/users/${user.id}`]],
          explain: disabled
            ? [
                'Every session of this account ends at once, and it cannot sign in until it is enabled again.',
                'Its keys keep working: revoke them separately if needed.',
              ]
            : ['The account can sign in again with its password. Its memberships are as they were.'],
          action: `/users/${user.id}/${path}`,
          button: disabled ? 'Disable account' : 'Enable account',
          danger: disabled,
          cancel: `/users/${user.id}`,
          refusal: self && disabled ? 'This is your own account: you cannot disable it.' : user.disabled === disabled ? `This account is ${disabled ? 'disabled' : 'enabled'} already.` : null,
        },
      });
    });

    router.post(`/users/:id/${path}`, signedIn, admin, async (req, res) => {
      const user = await userById(req.params.id as string);
      if (user.id === viewerOf(req).user.id) {
        throw new AppError({ status: 403, code: 'forbidden', message: 'You cannot disable your own account.' });
      }
      await ctx.dashboard.accounts.setDisabled(user.id, disabled, userActor(req));
      req.session.flash = {
        kind: 'success',
        message: disabled ? `Disabled ${user.email}; their sessions have ended.` : `Enabled ${user.email}.`,
      };
      res.redirect(`/users/${user.id}`);
    });
  }

  async function renderPassword(req: Request, res: Response, user: User, extra: { errors?: Record<string, string>; status?: number } = {}) {
    const self = user.id === viewerOf(req).user.id;
    pages.send(req, res, 'users/password', { title: `Set a password for ${user.email}`, user, self, errors: extra.errors ?? {} }, { status: extra.status });
  }

  router.get('/users/:id/password', signedIn, admin, async (req, res) => {
    await renderPassword(req, res, await userById(req.params.id as string));
  });

  router.post('/users/:id/password', signedIn, admin, async (req, res) => {
    const user = await userById(req.params.id as string);
    const form = passwordForm.parse(req.body ?? {});
    if (form.newPassword !== form.confirmPassword) {
      await renderPassword(req, res, user, { errors: { confirmPassword: 'does not match the new password' }, status: 400 });
      return;
    }
    try {
      await ctx.users.setPassword(user.id, { newPassword: form.newPassword }, userActor(req));
    } catch (error) {
      if (!(error instanceof AppError) || error.status !== 400 || !error.details) throw error;
      await renderPassword(req, res, user, { errors: Object.fromEntries(error.details.map((d) => [d.field, d.message])), status: 400 });
      return;
    }
    if (user.id === viewerOf(req).user.id) {
      // Your own account: this session ended with the others; sign in with the new password.
      await new Promise<void>((resolve, reject) => req.session.destroy((error) => (error ? reject(error) : resolve())));
      clearSessionCookie(res, ctx.config.dashboard.publicUrl);
      res.redirect('/login?signedOut=1');
      return;
    }
    req.session.flash = { kind: 'success', message: `Set a new password for ${user.email}; every session of theirs has ended.` };
    res.redirect(`/users/${user.id}`);
  });

  router.post('/users/:id/memberships', signedIn, admin, async (req, res) => {
    const user = await userById(req.params.id as string);
    const { tenantId, role } = membershipForm.parse(req.body ?? {});
    const tenant = await ctx.tenants.getById(tenantId);
    const before = await ctx.users.membershipOf(user.id, tenant.id);
    if (before?.role === role) {
      req.session.flash = { kind: 'info', message: `${user.email} is ${role} of ${tenant.name} already; nothing changed.` };
      res.redirect(`/users/${user.id}`);
      return;
    }
    if ((MEMBER_ROLES as readonly string[]).includes(role)) {
      assertMayChangeRole(viewerOf(req), { from: before?.role ?? null, to: role as MemberRole, ownerCount: await ownerCount(tenant.id) });
    }
    await ctx.users.setMembership(user.id, tenant.id, role, userActor(req));
    req.session.flash = { kind: 'success', message: `${user.email} is now ${role} of ${tenant.name}.` };
    res.redirect(`/users/${user.id}`);
  });

  /** A membership of the user, with its tenant, else 404. */
  async function membershipOf(userId: string, tenantId: string) {
    const membership = (await ctx.users.tenantsOf(userId)).find((m) => m.tenantId === tenantId);
    if (!membership) throw hidden();
    return membership;
  }

  /** Why the viewer may not take this membership away from its role (only owner), or null. */
  async function refusalFor(req: Request, membership: { role: MemberRole; tenantId: string }, to: MemberRole | null) {
    try {
      assertMayChangeRole(viewerOf(req), { from: membership.role, to, ownerCount: await ownerCount(membership.tenantId) });
      return null;
    } catch (error) {
      if (error instanceof AppError && error.status === 403) return error.message;
      throw error;
    }
  }

  router.get('/users/:id/memberships/:tenantId/role', signedIn, admin, async (req, res) => {
    const user = await userById(req.params.id as string);
    const membership = await membershipOf(user.id, req.params.tenantId as string);
    const wanted = roleQuery.parse(req.query).role;
    const selected = (MEMBER_ROLES as readonly string[]).includes(wanted ?? '') ? (wanted as MemberRole) : membership.role;
    pages.send(req, res, 'confirm', {
      title: `Change the role of ${user.email} in ${membership.tenant.name}?`,
      confirm: {
        crumbs: [['Users', '/users'], [user.email, `/users/${user.id}`]],
        explain: [
          `${user.email} is ${membership.role === 'member' ? 'a' : 'an'} ${membership.role} of ${membership.tenant.name}. The new role applies to their next page.`,
          'Owners manage every key and member and grant the owner role; admins manage every key and member except owners; members see and manage only their own keys.',
        ],
        action: `/users/${user.id}/memberships`,
        button: 'Change role',
        danger: false,
        cancel: `/users/${user.id}`,
        hidden: { tenantId: membership.tenantId },
        choice: { name: 'role', label: 'New role', options: MEMBER_ROLES.map((r) => [r, r]), selected },
        refusal: await refusalFor(req, membership, membership.role === 'owner' ? 'member' : membership.role),
      },
    });
  });

  router.get('/users/:id/memberships/:tenantId/remove', signedIn, admin, async (req, res) => {
    const user = await userById(req.params.id as string);
    const membership = await membershipOf(user.id, req.params.tenantId as string);
    pages.send(req, res, 'confirm', {
      title: `Remove ${user.email} from ${membership.tenant.name}?`,
      confirm: {
        crumbs: [['Users', '/users'], [user.email, `/users/${user.id}`]],
        explain: [
          `They lose access to ${membership.tenant.name} at once. Keys they own there stay; an owner or admin can give them to someone else.`,
        ],
        action: `/users/${user.id}/memberships/${membership.tenantId}/remove`,
        button: 'Remove from tenant',
        danger: true,
        cancel: `/users/${user.id}`,
        refusal: await refusalFor(req, membership, null),
      },
    });
  });

  router.post('/users/:id/memberships/:tenantId/remove', signedIn, admin, async (req, res) => {
    const user = await userById(req.params.id as string);
    const membership = await ctx.users.membershipOf(user.id, req.params.tenantId as string);
    if (!membership) throw hidden();
    assertMayChangeRole(viewerOf(req), { from: membership.role, to: null, ownerCount: await ownerCount(membership.tenantId) });
    await ctx.users.removeMembership(user.id, membership.tenantId, userActor(req));
    req.session.flash = { kind: 'success', message: `Removed ${user.email} from the tenant.` };
    res.redirect(`/users/${user.id}`);
  });

  return router;
}
