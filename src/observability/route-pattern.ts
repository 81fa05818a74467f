/**
 * The route pattern a request matched (`/api/v1/keys/:id`, never `/api/v1/keys/AbCd1234EfGh`):
 * the `route` of access-log lines and of request metrics, so their values stay few.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

const PATTERN = Symbol('keyward.routePattern');
const ROUTE = Symbol('keyward.route');

/** PATTERN: absent on requests this middleware did not see, null until a route matches. */
type Patterned = Request & { [PATTERN]?: string | null; [ROUTE]?: unknown };

/** Requests that matched no route and were answered outside any mounted router (e.g. 404s). */
export const UNMATCHED = 'unmatched';

/** Request prototypes that carry the `route` accessor below. */
const patched = new WeakSet<object>();

/**
 * Remembers the full pattern of each route a request matches, at the moment Express matches it.
 * Reading `req.baseUrl + req.route.path` when the response ends is not enough: on the way out of
 * nested routers Express restores `req.baseUrl` but keeps `req.route`, so an error thrown in the
 * route `/api/v1/keys/:id` reaches the app's error handler with the route `/:id` and no base.
 * Mount before the routers.
 *
 * The router sets `req.route` by assignment, so an accessor for `route` on the request's prototype
 * (the app's `app.request`; a sub-app's inherits from it) sees every match; it keeps the route and
 * the pattern in fields of the request (the pattern only for requests that passed this middleware,
 * so other routes of the app pay next to nothing). Defined once per prototype, not on each request: an
 * accessor defined on each request gives it closures and a hidden class of its own (measured
 * about 40 µs of CPU per request in `npm run bench`'s (e), 2026-12-02).
 */
export function routePatterns(): RequestHandler {
  // The prototype the last request had (an app's requests share one): checked without the WeakSet.
  let lastProto: object | null = null;
  return function routePatternMiddleware(req: Request, _res: Response, next: NextFunction): void {
    const proto = Object.getPrototypeOf(req) as object | null;
    if (proto !== lastProto && proto) {
      if (!patched.has(proto)) patchRoute(proto);
      lastProto = proto;
    }
    (req as Patterned)[PATTERN] = null;
    next();
  };
}

function patchRoute(proto: object): void {
  Object.defineProperty(proto, 'route', {
    configurable: true,
    enumerable: false,
    get(this: Patterned): unknown {
      return this[ROUTE];
    },
    set(this: Patterned, value: { path?: unknown } | undefined) {
      this[ROUTE] = value;
      if (this[PATTERN] !== undefined && typeof value?.path === 'string') this[PATTERN] = joinPattern(this.baseUrl, value.path);
    },
  });
  patched.add(proto);
}

/**
 * The request's route pattern; answered inside a mounted router by no route (a guard's refusal,
 * a static file), that router's mount path and `/*`; otherwise UNMATCHED.
 */
export function routeOf(req: Request): string {
  const pattern = (req as Patterned)[PATTERN];
  if (pattern) return pattern;
  return req.baseUrl ? `${mountPath(req.baseUrl)}/*` : UNMATCHED;
}

/**
 * Keyward's mount paths hold no parameters, so `baseUrl` is a mount path as written, except for
 * letter case: Express matches paths case-insensitively, and `/API/V1/Keys` must not be a new value.
 */
function mountPath(baseUrl: string): string {
  return baseUrl.toLowerCase();
}

function joinPattern(baseUrl: string | undefined, path: string): string {
  const base = baseUrl ? mountPath(baseUrl) : '';
  return path === '/' && base ? base : `${base}${path}`;
}
