/**
 * helmet for the dashboard, with a strict Content-Security-Policy: scripts, styles, fonts and
 * images come only from this app (public/, served under /assets); no inline script, no inline
 * style, no plugins, no framing; forms post only here.
 */
import helmet from 'helmet';
import type { RequestHandler } from 'express';

/** The CSP directives (exported so tests can compare what is sent). */
export function contentSecurityPolicy(publicUrl: string | null): Record<string, string[]> {
  const directives: Record<string, string[]> = {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'"],
    'style-src-attr': ["'none'"],
    'font-src': ["'self'"],
    'img-src': ["'self'"],
    'connect-src': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
    'base-uri': ["'none'"],
    'object-src': ["'none'"],
  };
  // Only over HTTPS: on plain http://localhost it would send the browser to an https:// that is not there.
  if (publicUrl?.startsWith('https://')) directives['upgrade-insecure-requests'] = [];
  return directives;
}

/** Security headers of every dashboard response. */
export function dashboardSecurityHeaders(publicUrl: string | null): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: contentSecurityPolicy(publicUrl) },
    strictTransportSecurity: publicUrl?.startsWith('https://') ? { maxAge: 31_536_000 } : false,
    referrerPolicy: { policy: 'same-origin' },
  });
}
