/**
 * CSRF protection of the sign-in form without a server-side session, so anonymous visitors
 * store nothing (every other form uses the session's synchronizer token, csrf.ts). Without it a
 * foreign page could sign a browser in to the attacker's account (login CSRF).
 *
 * Signed double-submit: the browser holds a random value in a short-lived cookie (HttpOnly,
 * SameSite=Strict, so a cross-site POST does not even carry it; `__Host-` and Secure over
 * HTTPS, so no other host can plant one), and the form holds `<issued at>.<HMAC of that value
 * and time>` under a key derived from SESSION_SECRET. A POST /login is accepted only with both,
 * matching (compared in constant time) and younger than the form's lifetime. Nothing is stored.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CookieOptions, Request, Response } from 'express';
import { submittedCsrfToken } from './csrf';

/** How long a rendered sign-in form can be sent. */
export const SIGN_IN_FORM_LIFETIME_MS = 2 * 3_600_000;
/** Tokens issued by an instance whose clock runs ahead are still accepted within this. */
const CLOCK_SKEW_MS = 60_000;

const NONCE = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url
const TOKEN = /^([0-9a-z]{1,10})\.([A-Za-z0-9_-]{43})$/; // issued-at ms in base 36, HMAC in base64url

/** What the sign-in form's protection needs from configuration. */
export interface SignInCsrfOptions {
  /** SESSION_SECRET; the HMAC key is derived from it. */
  sessionSecret: string;
  /** PUBLIC_URL: `https://` makes the cookie Secure and `__Host-` prefixed. */
  publicUrl: string | null;
  lifetimeMs?: number;
  clock?: () => Date;
}

/** Issues and checks the sign-in form's token and its cookie. */
export class SignInCsrf {
  /** `__Host-keyward.login` over HTTPS, `keyward.login` otherwise. */
  readonly cookieName: string;
  private readonly key: Buffer;
  private readonly lifetimeMs: number;
  private readonly secure: boolean;
  private readonly now: () => Date;

  constructor(options: SignInCsrfOptions) {
    if (typeof options.sessionSecret !== 'string' || options.sessionSecret.length < 32) {
      throw new TypeError('SignInCsrf: sessionSecret must be the SESSION_SECRET (32+ characters).');
    }
    const lifetimeMs = options.lifetimeMs ?? SIGN_IN_FORM_LIFETIME_MS;
    if (!(Number.isInteger(lifetimeMs) && lifetimeMs > 0)) {
      throw new TypeError('SignInCsrf: lifetimeMs must be a positive whole number of milliseconds.');
    }
    this.key = Buffer.from(hkdfSync('sha256', options.sessionSecret, 'keyward', 'dashboard sign-in form', 32));
    this.lifetimeMs = lifetimeMs;
    this.secure = options.publicUrl?.startsWith('https://') ?? false;
    this.cookieName = this.secure ? '__Host-keyward.login' : 'keyward.login';
    this.now = options.clock ?? (() => new Date());
  }

  /**
   * The token for a sign-in form on `res`: bound to the browser's cookie, which is set (or kept,
   * so forms open in other tabs stay valid) and given the form's lifetime again.
   */
  issue(req: Request, res: Response): string {
    const nonce = this.nonceOf(req) ?? randomBytes(32).toString('base64url');
    res.cookie(this.cookieName, nonce, { ...this.cookieOptions(), maxAge: this.lifetimeMs });
    const issuedAt = this.now().getTime();
    return `${issuedAt.toString(36)}.${this.mac(nonce, issuedAt)}`;
  }

  /** True when the request carries the cookie and a matching, unexpired token (`_csrf` or X-CSRF-Token). */
  isValid(req: Request): boolean {
    const nonce = this.nonceOf(req);
    const match = TOKEN.exec(submittedCsrfToken(req) ?? '');
    if (!nonce || !match) return false;
    const issuedAt = parseInt(match[1], 36);
    const age = this.now().getTime() - issuedAt;
    if (!(age >= -CLOCK_SKEW_MS && age <= this.lifetimeMs)) return false;
    return timingSafeEqual(Buffer.from(match[2]), Buffer.from(this.mac(nonce, issuedAt)));
  }

  /** Removes the cookie (after sign-in: the session's own token takes over). */
  clear(res: Response): void {
    res.clearCookie(this.cookieName, this.cookieOptions());
  }

  private cookieOptions(): CookieOptions {
    return { path: '/', httpOnly: true, sameSite: 'strict', secure: this.secure };
  }

  private mac(nonce: string, issuedAt: number): string {
    return createHmac('sha256', this.key).update(`${nonce}.${issuedAt}`).digest('base64url');
  }

  private nonceOf(req: Request): string | null {
    const value = cookieValue(req.headers.cookie, this.cookieName);
    return value !== null && NONCE.test(value) ? value : null;
  }
}

/** The first cookie named `name` in a Cookie header (values here are base64url: no decoding). */
function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return null;
}
