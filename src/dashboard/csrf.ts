/**
 * CSRF protection with synchronizer tokens (csrf-sync): each signed-in session holds a random
 * token, every state-changing form sends it back in `_csrf` (or the X-CSRF-Token header), and a
 * POST without it or with a wrong one is refused with 403 before any route runs. The sign-in form
 * comes before any session: POST /login is checked with its own signed token (sign-in-csrf.ts).
 */
import { csrfSync } from 'csrf-sync';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors';
import type { SignInCsrf } from './sign-in-csrf';

/** The token a request sends: the form field `_csrf`, else the X-CSRF-Token header. */
export function submittedCsrfToken(req: Request): string | undefined {
  const field = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (typeof field === 'string') return field;
  const header = req.headers['x-csrf-token'];
  return typeof header === 'string' ? header : undefined;
}

const { generateToken, isRequestValid } = csrfSync({ size: 32, getTokenFromRequest: submittedCsrfToken });

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session's CSRF token, created on first use. */
export function csrfTokenOf(req: Request): string {
  return generateToken(req);
}

/** A fresh token (after sign-in, when the session starts over). */
export function renewCsrfToken(req: Request): string {
  return generateToken(req, true);
}

/** The error of a refused form: 403 `csrf_invalid`. */
export function csrfError(): AppError {
  return new AppError({
    status: 403,
    code: 'csrf_invalid',
    message:
      'This form has expired or did not come from this site, so nothing was changed. Go back, reload the page and try again.',
  });
}

/**
 * Answers a refused form instead of the 403 when it can keep what was typed (form-drafts.ts);
 * returns false to leave it to the 403. It never performs what the form asked for.
 */
export type StaleFormHandler = (req: Request, res: Response) => boolean;

/**
 * Refuses unsafe methods without a valid token: the sign-in form's for POST /login, the session's
 * for everything else. Needs the session and the parsed body. A refused form goes to `staleForm`
 * first, when given.
 */
export function csrfProtection(signInForm: SignInCsrf, staleForm?: StaleFormHandler) {
  return function csrfProtectionMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (SAFE_METHODS.has(req.method)) {
      next();
      return;
    }
    // Express matches /LOGIN and /login/ to the sign-in route too: they get the same check.
    const signIn = isSignIn(req);
    if (signIn ? signInForm.isValid(req) : isRequestValid(req)) {
      next();
      return;
    }
    if (!signIn && staleForm?.(req, res)) return;
    next(csrfError());
  };
}

function isSignIn(req: Request): boolean {
  return /^\/login\/?$/i.test(req.path);
}
