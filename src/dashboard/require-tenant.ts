import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Pages } from './pages';
import { viewerOf } from './viewer';

/**
 * Tenant pages need a tenant: people who belong to none get a page saying what to do next
 * (platform admins: create one; others: ask to be added).
 */
export function requireTenant(pages: Pages): RequestHandler {
  return function requireTenantMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (viewerOf(req).tenant) {
      next();
      return;
    }
    pages.send(req, res, 'no-tenant', { title: 'No tenant yet' });
  };
}
