/**
 * CSRF protection with synchronizer tokens (csrf-sync): each session holds a random token, every
 * state-changing form sends it back in `_csrf` (or the X-CSRF-Token header), and a POST without
 * it or with a wrong one is refused with 403 before any route runs.
 */
import { csrfSync } from 'csrf-sync';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors';

const { generateToken, isRequestValid } = csrfSync({
  size: 32,
  getTokenFromRequest: (req) => {
    const field = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (typeof field === 'string') return field;
    const header = req.headers['x-csrf-token'];
    return typeof header === 'string' ? header : undefined;
  },
});

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

/** Refuses unsafe methods without the session's token. Needs the session and the parsed body. */
export function csrfProtection() {
  return function csrfProtectionMiddleware(req: Request, _res: Response, next: NextFunction): void {
    if (SAFE_METHODS.has(req.method) || isRequestValid(req)) {
      next();
      return;
    }
    next(csrfError());
  };
}
