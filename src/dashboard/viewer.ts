/**
 * Who is looking: the signed-in person, the tenants they may work in, the tenant they are working
 * in now and their role there. Loaded from the session on every dashboard request; an account
 * that was disabled or deleted meanwhile loses its session here.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AppContext } from '../context';
import { isTenantAdminRole, type MemberRole, type Tenant, type User } from '../tenants/tenant-types';

/** The signed-in person as pages and policies see them. */
export interface Viewer {
  user: User;
  isPlatformAdmin: boolean;
  /** Tenants the person may switch to: their memberships, or every tenant for a platform admin. */
  tenants: Tenant[];
  /** The tenant being worked in, or null when the person belongs to none. */
  tenant: Tenant | null;
  /** Their role in that tenant (null for a platform admin who is not a member). */
  role: MemberRole | null;
  /** Manages every key and member of the tenant: owner, admin, or platform admin. */
  managesTenant: boolean;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by loadViewer() for signed-in people. */
    viewer?: Viewer;
  }
}

/** Replaces the session with a new, empty one (the old id stops working at once). */
export function regenerateSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((error) => (error ? reject(error) : resolve())));
}

/** Builds the viewer of a user; `wanted` is the tenant the session last chose. */
export async function buildViewer(ctx: AppContext, user: User, wanted: string | undefined): Promise<Viewer> {
  const memberships = await ctx.users.tenantsOf(user.id);
  const tenants = user.isPlatformAdmin ? await ctx.tenants.list() : memberships.map((m) => m.tenant);
  // Without a choice yet: the first tenant the person belongs to (a platform admin may belong to none).
  const tenant = tenants.find((t) => t.id === wanted) ?? memberships[0]?.tenant ?? tenants[0] ?? null;
  const role = tenant ? (memberships.find((m) => m.tenantId === tenant.id)?.role ?? null) : null;
  return {
    user,
    isPlatformAdmin: user.isPlatformAdmin,
    tenants,
    tenant,
    role,
    managesTenant: tenant !== null && (user.isPlatformAdmin || (role !== null && isTenantAdminRole(role))),
  };
}

/** Sets req.viewer for signed-in people; ends sessions of accounts that are gone or disabled. */
export function loadViewer(ctx: AppContext): RequestHandler {
  return async function loadViewerMiddleware(req: Request, _res: Response, next: NextFunction): Promise<void> {
    const userId = req.session?.userId;
    if (!userId) {
      next();
      return;
    }
    const user = await ctx.users.findById(userId);
    if (!user || user.disabled) {
      await regenerateSession(req);
      next();
      return;
    }
    req.viewer = await buildViewer(ctx, user, req.session.tenantId);
    next();
  };
}

/** Sends anonymous visitors to the sign-in page (back here afterwards, for GET requests). */
export function requireSignIn(): RequestHandler {
  return function requireSignInMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (req.viewer) {
      next();
      return;
    }
    const back = req.method === 'GET' && req.originalUrl !== '/' ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
    res.redirect(`/login${back}`);
  };
}

/** The signed-in person (routes behind requireSignIn). */
export function viewerOf(req: Request): Viewer {
  if (!req.viewer) throw new Error('dashboard route mounted without requireSignIn');
  return req.viewer;
}

/** The viewer and the tenant being worked in (routes behind requireTenant). */
export function tenantOf(req: Request): Viewer & { tenant: Tenant } {
  const viewer = viewerOf(req);
  if (!viewer.tenant) throw new Error('dashboard route mounted without requireTenant');
  return viewer as Viewer & { tenant: Tenant };
}
