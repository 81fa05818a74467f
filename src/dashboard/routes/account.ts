/**
 * The signed-in person's own account: GET /account (profile, password, sessions),
 * POST /account/password (their other sessions end, this one gets a new id),
 * POST /account/sign-out-others and GET+POST /account/sign-out-everywhere (with a confirmation
 * step, as key actions have).
 */
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors';
import { userActor } from '../actor';
import { fieldErrors } from '../pages';
import { renewCsrfToken } from '../csrf';
import { clearSessionCookie } from '../session';
import { regenerateSession, requireSignIn, viewerOf } from '../viewer';
import type { DashboardDeps } from './deps';

const passwordForm = z.object({
  currentPassword: z.string().max(1024).catch(''),
  newPassword: z.string().max(1024).catch(''),
  confirmPassword: z.string().max(1024).catch(''),
});

/** The account routes (see the file comment). */
export function accountRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();
  const { accounts } = ctx.dashboard;

  async function render(req: Request, res: Response, extra: { errors?: Record<string, string>; status?: number } = {}) {
    const viewer = viewerOf(req);
    const [sessions, memberships] = await Promise.all([accounts.sessionsOf(viewer.user.id), ctx.users.tenantsOf(viewer.user.id)]);
    pages.send(
      req,
      res,
      'account',
      {
        title: 'Your account',
        sessions: sessions.map((s) => ({ ...s, current: s.sid === req.sessionID })),
        memberships,
        errors: extra.errors ?? {},
      },
      { status: extra.status },
    );
  }

  router.get('/account', signedIn, (req, res) => render(req, res));

  router.post('/account/password', signedIn, async (req, res) => {
    const viewer = viewerOf(req);
    const form = passwordForm.parse(req.body ?? {});
    try {
      // The service reports every problem at once, the confirmation included.
      await accounts.changePassword(viewer.user.id, form, req.sessionID, userActor(req));
    } catch (error) {
      const errors = fieldErrors(error);
      if (!errors || (error as AppError).status !== 400) throw error;
      await render(req, res, { errors, status: 400 });
      return;
    }
    // This session continues under a new id; the other sessions ended with the change.
    const { userId, signedInAt, tenantId, ip, userAgent } = req.session;
    await regenerateSession(req);
    Object.assign(req.session, { userId, signedInAt, tenantId, ip, userAgent });
    renewCsrfToken(req);
    req.session.flash = { kind: 'success', message: 'Your password is changed. Your other sessions were signed out.' };
    res.redirect('/account');
  });

  router.post('/account/sign-out-others', signedIn, async (req, res) => {
    const ended = await accounts.signOutOthers(viewerOf(req).user.id, req.sessionID);
    req.session.flash = { kind: 'success', message: ended === 1 ? 'Signed out 1 other session.' : `Signed out ${ended} other sessions.` };
    res.redirect('/account');
  });

  router.get('/account/sign-out-everywhere', signedIn, async (req, res) => {
    const sessions = await accounts.sessionsOf(viewerOf(req).user.id);
    pages.send(req, res, 'confirm', {
      title: 'Sign out everywhere?',
      confirm: {
        crumbs: [['Your account', '/account']],
        explain: [
          `${sessions.length === 1 ? 'Your only session ends' : `All ${sessions.length} of your sessions end`}, this one included: every browser where you are signed in goes back to the sign-in page.`,
          'Do this when a device was lost or someone else may have used your account; change your password too if it may be known.',
        ],
        action: '/account/sign-out-everywhere',
        button: 'Sign out everywhere',
        danger: true,
        cancel: '/account',
        refusal: null,
      },
    });
  });

  router.post('/account/sign-out-everywhere', signedIn, async (req, res) => {
    await accounts.signOutEverywhere(viewerOf(req).user.id);
    await new Promise<void>((resolve, reject) => req.session.destroy((error) => (error ? reject(error) : resolve())));
    clearSessionCookie(res, ctx.config.dashboard.publicUrl);
    res.redirect('/login?signedOut=1');
  });

  return router;
}
