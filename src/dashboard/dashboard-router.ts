/**
 * The dashboard, mounted at "/": everything that is not /api or /healthz. The order is the point:
 *
 *   security headers (helmet, strict CSP) → static assets (/assets, no session) → session →
 *   form bodies → CSRF check of every unsafe method (a form from this site whose session ended
 *   is kept for after sign-in instead of refused) → who is signed in → pages (each declares
 *   its steps: sign-in required, tenant, role, record)
 *
 * Anonymous visitors never get a stored session: a session row is written only at sign-in, and
 * the sign-in form carries its own CSRF token (sign-in-csrf.ts).
 *
 * Unknown paths fall through to the app's not-found handler, which renders the dashboard's 404.
 */
import path from 'node:path';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { AppContext } from '../context';
import { csrfProtection } from './csrf';
import { Pages, ViewRenderer } from './pages';
import { accountRoutes } from './routes/account';
import { auditRoutes } from './routes/audit';
import { keyActionRoutes } from './routes/key-actions';
import { keyActivityRoutes } from './routes/key-activity';
import { keyDetailRoutes } from './routes/key-detail';
import { keyFormRoutes } from './routes/key-form';
import { keyListRoutes } from './routes/key-list';
import { keySecretRoutes } from './routes/key-secret';
import { memberRoutes } from './routes/members';
import { overviewRoutes } from './routes/overview';
import { ownerLimitRoutes } from './routes/owner-limits';
import { settingsRoutes } from './routes/settings';
import { signInRoutes, staleFormHandler } from './routes/sign-in';
import { tenantLimitRoutes } from './routes/tenant-limits';
import { tenantRoutes } from './routes/tenants';
import { unknownKeyRoutes } from './routes/unknown-keys';
import { userRoutes } from './routes/users';
import { webhookActionRoutes } from './routes/webhook-actions';
import { dashboardSecurityHeaders } from './security-headers';
import { dashboardSession } from './session';
import { loadViewer } from './viewer';

/** public/ at the project root: CSS, JS and images, served under /assets. */
export const PUBLIC_DIR = path.join(__dirname, '..', '..', 'public');

/** The dashboard's router and its error page renderer (for the app's error handler). */
export interface Dashboard {
  router: Router;
  pages: Pages;
}

/** /api has its own JSON world: the dashboard's middleware never runs there. */
function skipApi(req: Request, _res: Response, next: NextFunction): void {
  next(req.path === '/api' || req.path.startsWith('/api/') ? 'router' : undefined);
}

/** Builds the dashboard router and the page renderer it shares with the error handler. */
export function createDashboard(ctx: AppContext): Dashboard {
  const { config } = ctx;
  const pages = new Pages(new ViewRenderer(), ctx.dashboard.clock);
  const deps = { ctx, pages };
  const router = Router();

  router.use(skipApi);
  router.use(dashboardSecurityHeaders(config.dashboard.publicUrl));
  router.use('/assets', express.static(PUBLIC_DIR, { index: false, redirect: false, fallthrough: true }));
  router.use(
    dashboardSession({
      store: ctx.dashboard.sessions,
      secret: config.sessionSecret,
      publicUrl: config.dashboard.publicUrl,
      idleMinutes: config.dashboard.sessionIdleMinutes,
    }),
  );
  router.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 500 }));
  router.use(csrfProtection(ctx.dashboard.signInForm, staleFormHandler(deps)));
  router.use(loadViewer(ctx));

  // Every route below declares requireSignIn() itself, so unknown paths stay 404 for everyone.
  router.use(signInRoutes(deps));
  router.use(accountRoutes(deps));
  router.use(tenantRoutes(deps));
  router.use(userRoutes(deps));
  router.use(unknownKeyRoutes(deps));
  router.use(overviewRoutes(deps));
  router.use(keyListRoutes(deps));
  router.use(keyFormRoutes(deps));
  router.use(keySecretRoutes(deps));
  router.use(keyActionRoutes(deps));
  router.use(keyDetailRoutes(deps));
  router.use(keyActivityRoutes(deps));
  router.use(auditRoutes(deps));
  router.use(memberRoutes(deps));
  router.use(ownerLimitRoutes(deps));
  router.use(settingsRoutes(deps));
  router.use(tenantLimitRoutes(deps));
  router.use(webhookActionRoutes(deps));
  return { router, pages };
}
