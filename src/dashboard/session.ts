/**
 * The dashboard's session cookie and what a session holds. Over HTTPS (PUBLIC_URL https://...)
 * the cookie is Secure and named with the `__Host-` prefix, so it is bound to this exact origin;
 * it is always HttpOnly and SameSite=Lax. The cookie lives as long as the idle timeout and is
 * renewed on each response (rolling); the store enforces both timeouts on the server.
 */
import session from 'express-session';
import type { RequestHandler, Response } from 'express';
import type { DatabaseSessionStore } from './session-store';

declare module 'express-session' {
  interface SessionData {
    /** The signed-in person. */
    userId?: string;
    /** When they signed in (ms since epoch): the start of the absolute lifetime. */
    signedInAt?: number;
    ip?: string;
    userAgent?: string;
    /** The tenant the person is working in (tenant switcher). */
    tenantId?: string;
    /** A message for the next page, shown once. */
    flash?: { kind: 'success' | 'error' | 'info'; message: string };
    /** A new key secret waiting for its one-time page, sealed by SecretBox. */
    issuedSecret?: { keyId: string; sealed: string; action: 'create' | 'regenerate' | 'rotate'; graceEndsAt?: string };
  }
}

/** What the session middleware needs from configuration. */
export interface SessionCookieOptions {
  store: DatabaseSessionStore;
  secret: string;
  publicUrl: string | null;
  idleMinutes: number;
}

/** The cookie's name: `__Host-keyward.sid` over HTTPS, `keyward.sid` otherwise. */
export function sessionCookieName(publicUrl: string | null): string {
  return isHttps(publicUrl) ? '__Host-keyward.sid' : 'keyward.sid';
}

function isHttps(publicUrl: string | null): boolean {
  return publicUrl?.startsWith('https://') ?? false;
}

/** express-session configured for the dashboard. */
export function dashboardSession(options: SessionCookieOptions): RequestHandler {
  const https = isHttps(options.publicUrl);
  return session({
    name: sessionCookieName(options.publicUrl),
    secret: options.secret,
    store: options.store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    // Behind HTTPS, TLS ends at a proxy (Keyward itself speaks HTTP): trust its X-Forwarded-Proto
    // for the one decision of sending the Secure cookie.
    proxy: https ? true : undefined,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: https,
      path: '/',
      maxAge: options.idleMinutes * 60_000,
    },
  });
}

/** Tells the browser to forget the session cookie (sign-out). */
export function clearSessionCookie(res: Response, publicUrl: string | null): void {
  res.clearCookie(sessionCookieName(publicUrl), {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: isHttps(publicUrl),
  });
}
