/**
 * Who may see and do what, checked per record on every request:
 *
 * - platform admin: every tenant; creates and renames tenants, creates and disables users,
 *   assigns memberships;
 * - tenant owner/admin: every key and member of their tenant (only owners and platform admins
 *   grant, change or remove the owner role; a tenant keeps at least one owner);
 * - member: their own keys only, and no scope that manages keys (admin, keys:*).
 *
 * Anything a person may not see answers exactly like a record that does not exist: 404.
 */
import type { NextFunction, Request, Response } from 'express';
import type { AppContext } from '../context';
import { AppError, notFound } from '../errors';
import type { ChangeLimits } from '../keys/key-authority';
import { ADMIN_SCOPE, type ApiKeyRecord, type ScopeAuthority } from '@keyward/guard';
import type { MemberRole } from '../tenants/tenant-types';
import type { Viewer } from './viewer';
import { tenantOf, viewerOf } from './viewer';

/** The 404 of a page or record the person may not see (indistinguishable from a missing one). */
export function hidden(): AppError {
  return notFound('Page');
}

/** Only for platform admins; everyone else gets 404. */
export function requirePlatformAdmin() {
  return function requirePlatformAdminMiddleware(req: Request, _res: Response, next: NextFunction): void {
    next(viewerOf(req).isPlatformAdmin ? undefined : hidden());
  };
}

/** Only for people who manage the current tenant (owner, admin, platform admin); others get 404. */
export function requireTenantManager() {
  return function requireTenantManagerMiddleware(req: Request, _res: Response, next: NextFunction): void {
    next(tenantOf(req).managesTenant ? undefined : hidden());
  };
}

/**
 * Scopes that reach beyond the key itself: `admin`, and `keys:*` (the management API reads and
 * changes every key of the tenant). A member granting them to their own key would see and change
 * other people's keys through /api, so only people who manage the tenant may grant them.
 */
export function isManagementScope(scope: string): boolean {
  return scope === ADMIN_SCOPE || scope.startsWith('keys:');
}

/** What a member holds: every scope but the management ones. */
const MEMBER_AUTHORITY: ScopeAuthority = { holds: (scope) => !isManagementScope(scope), who: 'A member' };

/**
 * What a person may do to keys in the current tenant: owners, admins and platform admins hold
 * every scope; members hold none of `admin`/`keys:*`, so they can neither grant those scopes nor
 * change a key that holds them (even their own, if a tenant admin gave it one).
 */
export function keyLimitsOf(req: Request): ChangeLimits {
  return tenantOf(req).managesTenant ? {} : { authority: MEMBER_AUTHORITY };
}

/** The owner filter a person's key lists get: members see their own keys only. */
export function ownerScope(viewer: Viewer): string | undefined {
  return viewer.managesTenant ? undefined : viewer.user.id;
}

/** A key the person may see in their current tenant, else 404 (other tenants, other members' keys). */
export async function visibleKey(ctx: AppContext, req: Request, id: string): Promise<ApiKeyRecord> {
  const viewer = tenantOf(req);
  const key = await ctx.keys.get(viewer.tenant.id, id);
  if (!viewer.managesTenant && key.ownerId !== viewer.user.id) throw notFound('API key');
  return key;
}

function forbidden(message: string): AppError {
  return new AppError({ status: 403, code: 'forbidden', message });
}

/**
 * Checks a change of a member's role (`to` null: removal). Owners and platform admins may do
 * anything but leave the tenant without an owner; admins may not touch owners or make any.
 */
export function assertMayChangeRole(
  viewer: Viewer,
  change: { from: MemberRole | null; to: MemberRole | null; ownerCount: number },
): void {
  const mayTouchOwners = viewer.isPlatformAdmin || viewer.role === 'owner';
  if (!mayTouchOwners && (change.from === 'owner' || change.to === 'owner')) {
    throw forbidden('Only an owner of this tenant can grant, change or remove the owner role.');
  }
  if (change.from === 'owner' && change.to !== 'owner' && change.ownerCount <= 1) {
    throw forbidden('This is the tenant\'s only owner. Make someone else an owner first.');
  }
}
