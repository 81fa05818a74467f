/**
 * Opt-in CORS for /api (CORS_ORIGINS): a browser page on a listed origin may call the API with a
 * key in a header. Keys travel in headers, never cookies, so no credentials are allowed and `*` is
 * never answered; an origin not listed gets no CORS headers at all (the browser then blocks it).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export interface ApiCorsOptions {
  /** Exact origins (`scheme://host[:port]`, lower case); empty turns CORS off. */
  origins: readonly string[];
  /** How long a browser may cache a preflight answer, in seconds (default 600). */
  maxAgeSeconds?: number;
}

/** Headers a caller may send: the key headers, the body type, the chatbot id, and OpenAI SDK headers. */
const ALLOWED_HEADERS = ['authorization', 'x-api-key', 'content-type', 'x-chatbot-id', 'x-request-id', 'openai-organization', 'openai-project', 'openai-beta'];
/** Every `x-stainless-*` header the openai SDK (and other Stainless SDKs) sends: lang, os, retry count, ... */
const STAINLESS = /^x-stainless-[a-z0-9-]+$/;

/** Headers a page may read: the rate-limit state, when to retry, and the request id to quote. */
export const EXPOSED_HEADERS = [
  'RateLimit',
  'RateLimit-Policy',
  'Retry-After',
  'X-Request-Id',
  'X-Should-Retry',
  'X-Next-Cursor',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
].join(', ');

const METHODS = 'GET, POST, PUT, PATCH, DELETE';

/** Creates the middleware; throws a TypeError naming the fix for an origin it cannot match. */
export function apiCors(options: ApiCorsOptions): RequestHandler {
  const origins = new Set<string>();
  for (const origin of options.origins) {
    if (origin === '*' || !/^https?:\/\/[^/\s]+$/i.test(origin)) {
      throw new TypeError(`apiCors: "${origin}" is not an origin; list exact origins such as https://app.example.com (never "*").`);
    }
    origins.add(origin.toLowerCase());
  }
  const maxAge = String(options.maxAgeSeconds ?? 600);

  return function apiCorsMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (origins.size === 0) return next();
    // The answer depends on Origin: shared caches must not hand one origin's answer to another.
    res.vary('Origin');
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !origins.has(origin.toLowerCase())) return next();
    res.setHeader('Access-Control-Allow-Origin', origin);
    const requestedMethod = req.headers['access-control-request-method'];
    if (req.method !== 'OPTIONS' || typeof requestedMethod !== 'string') {
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
      return next();
    }
    // A preflight: answered here, before any guard (it carries no key and must not count).
    const requested = String(req.headers['access-control-request-headers'] ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== '');
    const allowed = [...ALLOWED_HEADERS, ...requested.filter((h) => STAINLESS.test(h))];
    res.vary('Access-Control-Request-Headers');
    res.setHeader('Access-Control-Allow-Methods', METHODS);
    res.setHeader('Access-Control-Allow-Headers', [...new Set(allowed)].join(', '));
    res.setHeader('Access-Control-Max-Age', maxAge);
    res.status(204).end();
  };
}
