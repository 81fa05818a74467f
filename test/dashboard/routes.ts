/**
 * Every dashboard route, with the kind of record its path names and who may use it. The sweep
 * suites walk this table; routes.test.ts proves it lists exactly the routes the router has.
 */
import type { Router } from 'express';

export type IdKind = 'key' | 'member' | 'tenant' | 'user' | 'membership' | 'webhook';

export interface RouteSpec {
  method: 'GET' | 'POST';
  /** Express path, e.g. /keys/:id/edit. */
  path: string;
  /** The record its :id names (membership: /users/:id/memberships/:tenantId). */
  ids?: IdKind;
  /** Who may use it: anyone signed in (record rules apply), tenant managers, platform admins, or nobody signed in. */
  access: 'public' | 'signed-in' | 'manager' | 'platform';
  /** A body that would be valid if the person were allowed (so a refusal is about access, not input). */
  body?: Record<string, unknown>;
  /** Answers a CSV download, not a page. */
  download?: boolean;
}

const KEY_ACTIONS = ['revoke', 'deactivate', 'activate', 'regenerate', 'rotate', 'reset-usage', 'delete'];

export const ROUTES: RouteSpec[] = [
  { method: 'GET', path: '/login', access: 'public' },
  { method: 'POST', path: '/login', access: 'public', body: { email: 'x@example.com', password: 'nope nope nope' } },
  { method: 'POST', path: '/logout', access: 'public' },
  { method: 'GET', path: '/', access: 'signed-in' },
  { method: 'POST', path: '/tenant', access: 'signed-in', body: { tenantId: 'placeholder' } },
  { method: 'GET', path: '/keys', access: 'signed-in' },
  { method: 'GET', path: '/keys/new', access: 'signed-in' },
  { method: 'POST', path: '/keys', access: 'signed-in', body: { name: 'swept key' } },
  { method: 'GET', path: '/keys/:id', ids: 'key', access: 'signed-in' },
  { method: 'GET', path: '/keys/:id/requests', ids: 'key', access: 'signed-in' },
  { method: 'GET', path: '/keys/:id/requests.csv', ids: 'key', access: 'signed-in', download: true },
  { method: 'GET', path: '/keys/:id/usage.csv', ids: 'key', access: 'signed-in', download: true },
  { method: 'GET', path: '/usage.csv', access: 'manager', download: true },
  { method: 'GET', path: '/keys/:id/edit', ids: 'key', access: 'signed-in' },
  { method: 'POST', path: '/keys/:id/edit', ids: 'key', access: 'signed-in', body: { name: 'renamed by sweep', expiry: 'keep' } },
  { method: 'GET', path: '/keys/:id/secret', ids: 'key', access: 'signed-in' },
  ...KEY_ACTIONS.flatMap((action): RouteSpec[] => [
    { method: 'GET', path: `/keys/:id/${action}`, ids: 'key', access: 'signed-in' },
    { method: 'POST', path: `/keys/:id/${action}`, ids: 'key', access: 'signed-in', body: action === 'rotate' ? { grace: '3600' } : {} },
  ]),
  { method: 'GET', path: '/audit', access: 'signed-in' },
  { method: 'GET', path: '/members', access: 'manager' },
  { method: 'POST', path: '/members', access: 'manager', body: { email: 'nobody@example.com', role: 'member' } },
  { method: 'GET', path: '/members/:userId/role', ids: 'member', access: 'manager' },
  { method: 'POST', path: '/members/:userId/role', ids: 'member', access: 'manager', body: { role: 'admin' } },
  { method: 'GET', path: '/members/:userId/remove', ids: 'member', access: 'manager' },
  { method: 'POST', path: '/members/:userId/remove', ids: 'member', access: 'manager' },
  { method: 'GET', path: '/members/:userId/limits', ids: 'member', access: 'manager' },
  { method: 'POST', path: '/members/:userId/limits', ids: 'member', access: 'manager', body: { budgetPeriod: 'monthly', budgetAmount: '12.50', perMinute: '60' } },
  { method: 'GET', path: '/tenants', access: 'platform' },
  { method: 'POST', path: '/tenants', access: 'platform', body: { name: 'Swept', slug: 'swept' } },
  { method: 'GET', path: '/tenants/:id', ids: 'tenant', access: 'platform' },
  { method: 'POST', path: '/tenants/:id/rename', ids: 'tenant', access: 'platform', body: { name: 'Renamed by sweep' } },
  { method: 'GET', path: '/users', access: 'platform' },
  { method: 'POST', path: '/users', access: 'platform', body: { email: 'swept@example.com', password: 'a long enough password' } },
  { method: 'GET', path: '/users/:id', ids: 'user', access: 'platform' },
  { method: 'GET', path: '/users/:id/disable', ids: 'user', access: 'platform' },
  { method: 'POST', path: '/users/:id/disable', ids: 'user', access: 'platform' },
  { method: 'GET', path: '/users/:id/enable', ids: 'user', access: 'platform' },
  { method: 'POST', path: '/users/:id/enable', ids: 'user', access: 'platform' },
  { method: 'GET', path: '/users/:id/password', ids: 'user', access: 'platform' },
  { method: 'POST', path: '/users/:id/password', ids: 'user', access: 'platform', body: { newPassword: 'a swept new password', confirmPassword: 'a swept new password' } },
  { method: 'POST', path: '/users/:id/memberships', ids: 'user', access: 'platform', body: { tenantId: 'placeholder', role: 'admin' } },
  { method: 'GET', path: '/users/:id/memberships/:tenantId/role', ids: 'membership', access: 'platform' },
  { method: 'GET', path: '/users/:id/memberships/:tenantId/remove', ids: 'membership', access: 'platform' },
  { method: 'POST', path: '/users/:id/memberships/:tenantId/remove', ids: 'membership', access: 'platform' },
  { method: 'GET', path: '/unknown-keys', access: 'platform' },
  { method: 'GET', path: '/account', access: 'signed-in' },
  { method: 'POST', path: '/account/password', access: 'signed-in', body: { currentPassword: 'x', newPassword: 'y', confirmPassword: 'y' } },
  { method: 'POST', path: '/account/sign-out-others', access: 'signed-in' },
  { method: 'GET', path: '/account/sign-out-everywhere', access: 'signed-in' },
  { method: 'POST', path: '/account/sign-out-everywhere', access: 'signed-in' },
  { method: 'GET', path: '/settings', access: 'manager' },
  { method: 'POST', path: '/settings/limits', access: 'manager', body: { budgetPeriod: 'monthly', budgetAmount: '100', alertThresholds: '50, 80, 100' } },
  { method: 'POST', path: '/settings/webhooks', access: 'manager', body: { url: 'https://example.com/swept', events: 'key.revoked' } },
  { method: 'GET', path: '/settings/webhooks/:id', ids: 'webhook', access: 'manager' },
  { method: 'GET', path: '/settings/webhooks/:id/secret', ids: 'webhook', access: 'manager' },
  { method: 'POST', path: '/settings/webhooks/:id/enable', ids: 'webhook', access: 'manager' },
  { method: 'POST', path: '/settings/webhooks/:id/disable', ids: 'webhook', access: 'manager' },
  { method: 'POST', path: '/settings/webhooks/:id/test', ids: 'webhook', access: 'manager' },
  { method: 'POST', path: '/settings/webhooks/:id/redeliver', ids: 'webhook', access: 'manager', body: { delivery: 'placeholder' } },
  ...['rotate', 'delete'].flatMap((action): RouteSpec[] => [
    { method: 'GET', path: `/settings/webhooks/:id/${action}`, ids: 'webhook', access: 'manager' },
    { method: 'POST', path: `/settings/webhooks/:id/${action}`, ids: 'webhook', access: 'manager' },
  ]),
];

/** "GET /keys/:id" for every route a router (and its sub-routers) declares. */
export function declaredRoutes(router: Router): string[] {
  const out: string[] = [];
  const walk = (stack: unknown[]) => {
    for (const layer of stack as { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }[]) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          if (method !== '_all') out.push(`${method.toUpperCase()} ${layer.route.path}`);
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((router as unknown as { stack: unknown[] }).stack);
  return out;
}

/** A route's path with ids filled in. */
export function fill(path: string, ids: { id?: string; userId?: string; tenantId?: string }): string {
  return path
    .replace(':userId', ids.userId ?? ids.id ?? '')
    .replace(':tenantId', ids.tenantId ?? '')
    .replace(':id', ids.id ?? '');
}
