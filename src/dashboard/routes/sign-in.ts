/**
 * GET/POST /login and POST /logout. Sign-in: CSRF (router-wide, the sign-in form's own token) →
 * input → brute-force check and credentials (SignInService) → a new session id with its own CSRF
 * token → back to where the person was going, or to the form they were filling in when their
 * session ended (form-drafts.ts). The form is served and refused without a session.
 */
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { clientIp } from '../actor';
import { renewCsrfToken, type StaleFormHandler } from '../csrf';
import { fromThisSite } from '../form-drafts';
import { clearSessionCookie } from '../session';
import { SignInRefused } from '../sign-in-service';
import { regenerateSession } from '../viewer';
import type { DashboardDeps } from './deps';

const signInSchema = z.object({
  email: z.string().max(254).catch(''),
  password: z.string().max(1024).catch(''),
  next: z.string().max(2000).optional().catch(undefined),
  /** A sealed form kept from an ended session (form-drafts.ts). */
  draft: z.string().max(50_000).optional().catch(undefined),
});

/** A local path to return to after sign-in; anything else (other sites, //host) goes to "/". */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (next.startsWith('/login') || next.startsWith('/logout')) return '/';
  return next;
}

function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((error) => (error ? reject(error) : resolve())));
}

/** GET/POST /login and POST /logout. */
export function signInRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const { dashboard } = ctx;

  router.get('/login', (req, res) => {
    if (req.viewer) {
      res.redirect(safeNext(req.query.next));
      return;
    }
    pages.send(req, res, 'login', {
      title: 'Sign in',
      csrfToken: dashboard.signInForm.issue(req, res),
      values: { email: '', next: safeNext(req.query.next), draft: '' },
      signedOut: req.query.signedOut === '1',
      message: null,
    });
  });

  router.post('/login', async (req, res) => {
    const input = signInSchema.parse(req.body ?? {});
    const next = safeNext(input.next);
    try {
      const user = await dashboard.signIn.signIn(input.email, input.password, clientIp(req));
      // A new session id at sign-in: a session id planted before sign-in (fixation) is worthless.
      await regenerateSession(req);
      req.session.userId = user.id;
      req.session.signedInAt = dashboard.clock().getTime();
      req.session.ip = clientIp(req);
      req.session.userAgent = req.get('user-agent')?.slice(0, 300);
      renewCsrfToken(req);
      const draft = dashboard.drafts.open(input.draft);
      if (draft) req.session.formDraft = { page: draft.page, sealed: input.draft as string };
      await saveSession(req);
      dashboard.signInForm.clear(res);
      dashboard.sessions.pruneExpired().catch((error) => ctx.logger.warn({ err: error }, 'pruning expired sessions failed'));
      res.redirect(draft ? draft.page : next);
    } catch (error) {
      if (!(error instanceof SignInRefused)) throw error;
      for (const [name, value] of Object.entries(error.headers ?? {})) res.setHeader(name, value);
      pages.send(
        req,
        res,
        'login',
        {
          title: error.reason === 'blocked' ? 'Too many attempts' : 'Sign in',
          csrfToken: dashboard.signInForm.issue(req, res),
          values: { email: input.email, next, draft: dashboard.drafts.open(input.draft) ? input.draft : '' },
          signedOut: false,
          message: error.message,
          blocked: error.block ?? null,
        },
        { status: error.status },
      );
    }
  });

  router.post('/logout', async (req, res) => {
    await new Promise<void>((resolve, reject) => req.session.destroy((error) => (error ? reject(error) : resolve())));
    clearSessionCookie(res, ctx.config.dashboard.publicUrl);
    res.redirect('/login?signedOut=1');
  });

  return router;
}

/**
 * Keeps a form that was refused because its session ended (csrf.ts asks this before the 403):
 * when the browser says it came from this site and the form is one worth keeping, its fields
 * (never passwords) are sealed and the person signs in again on the spot, then finds the form
 * filled in. Someone still signed in (the form was from an earlier session) goes straight back
 * to the filled-in form. Nothing the form asked for is done.
 */
export function staleFormHandler({ ctx, pages }: DashboardDeps): StaleFormHandler {
  const { dashboard } = ctx;
  return function keepStaleForm(req: Request, res: Response): boolean {
    if (!fromThisSite(req, ctx.config.dashboard.publicUrl)) return false;
    const page = dashboard.drafts.pageFor(req.path);
    const sealed = page ? dashboard.drafts.seal(req.path, req.body) : null;
    if (!page || !sealed) return false;
    if (req.session?.userId) {
      req.session.formDraft = { page, sealed };
      res.redirect(303, page);
      return true;
    }
    pages.send(
      req,
      res,
      'login',
      {
        title: 'Sign in again',
        csrfToken: dashboard.signInForm.issue(req, res),
        values: { email: '', next: page, draft: sealed },
        signedOut: false,
        message: null,
      },
      { status: 401 },
    );
    return true;
  };
}
