import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { missingScopes } from '../keys/scopes';
import { deny } from './deny';

/**
 * A route-level scope check, after apiKeyAuth(): 403 `insufficient_scope` unless the key holds
 * every listed scope (`admin` implies all). Prefer apiKeyAuth's `scopes` option where it fits: it
 * refuses before the request counts against rate limits, quota and budget; this one runs after.
 */
export function requireScope(...scopes: string[]): RequestHandler {
  if (scopes.length === 0 || scopes.some((s) => typeof s !== 'string' || s === '')) {
    throw new TypeError('requireScope: name at least one scope, e.g. requireScope("keys:read").');
  }
  return function requireScopeMiddleware(req: Request, res: Response, next: NextFunction): void {
    const key = req.apiKey;
    if (!key) {
      deny(res, 'missing_api_key', 'No API key: send it as "Authorization: Bearer <key>" or in the X-API-Key header.');
      return;
    }
    const missing = missingScopes(key.scopes, scopes);
    if (missing.length > 0) {
      deny(res, 'insufficient_scope', `This API key lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}.`);
      return;
    }
    next();
  };
}
