/**
 * The route pattern a request matched (`/api/v1/keys/:id`, never `/api/v1/keys/AbCd1234EfGh`):
 * the `route` of access-log lines and of request metrics, so their values stay few.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

const PATTERN = Symbol('keyward.routePattern');

type Patterned = Request & { [PATTERN]?: string };

/** Requests that matched no route and were answered outside any mounted router (e.g. 404s). */
export const UNMATCHED = 'unmatched';

/**
 * Remembers the full pattern of each route a request matches, at the moment Express matches it.
 * Reading `req.baseUrl + req.route.path` when the response ends is not enough: on the way out of
 * nested routers Express restores `req.baseUrl` but keeps `req.route`, so an error thrown in the
 * route `/api/v1/keys/:id` reaches the app's error handler with the route `/:id` and no base.
 * Mount before the routers.
 */
export function routePatterns(): RequestHandler {
  return function routePatternMiddleware(req: Request, _res: Response, next: NextFunction): void {
    let route: unknown;
    Object.defineProperty(req, 'route', {
      configurable: true,
      enumerable: true,
      get: () => route,
      set: (value: { path?: unknown } | undefined) => {
        route = value;
        if (typeof value?.path === 'string') (req as Patterned)[PATTERN] = joinPattern(req.baseUrl, value.path);
      },
    });
    next();
  };
}

/**
 * The request's route pattern; answered inside a mounted router by no route (a guard's refusal,
 * a static file), that router's mount path and `/*`; otherwise UNMATCHED.
 */
export function routeOf(req: Request): string {
  const pattern = (req as Patterned)[PATTERN];
  if (pattern !== undefined) return pattern;
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
