/**
 * GET /keys: the tenant's keys (a member's own keys) with filters (status, owner, tag, expiry),
 * search (name, description), sort and server-side pagination with a page jump (keyset cursors past the
 * first 10,000 keys; see data/repositories/key-list.ts). One indexed page query plus a capped count, then
 * per row of the page only: today's usage bucket and the budget state.
 */
import { Router } from 'express';
import { z } from 'zod';
import { decodeCursor, type KeyCursor, listKeyPage, MAX_OFFSET } from '../../data/repositories/key-list';
import { keysDailyUsage } from '../../data/repositories/usage';
import { dayStart, displayStatus, EXPIRY_FILTERS, type ExpiryFilter, limitStatus } from '@keyward/guard';
import { paginate } from '../links';
import { ownerScope } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn, tenantOf } from '../viewer';
import type { DashboardDeps } from './deps';

/** Sort choices of the list, as the service's sort and order. */
export const KEY_SORTS = {
  newest: { sort: 'createdAt', order: 'desc', label: 'Newest first' },
  oldest: { sort: 'createdAt', order: 'asc', label: 'Oldest first' },
  name: { sort: 'name', order: 'asc', label: 'Name A–Z' },
  'name-desc': { sort: 'name', order: 'desc', label: 'Name Z–A' },
  'last-used': { sort: 'lastUsedAt', order: 'desc', label: 'Recently used' },
  expiring: { sort: 'expiresAt', order: 'asc', label: 'Expiring soonest' },
} as const;

/** The expiry filter's choices, as the list offers them. */
export const EXPIRY_CHOICES: Record<ExpiryFilter, string> = {
  '7d': 'Within 7 days',
  '30d': 'Within 30 days',
  expired: 'Expired',
  never: 'Never expires',
};

const PAGE_SIZES = [10, 20, 50, 100];

// Filters arrive in links people edit by hand: a bad value falls back to "any" instead of an error page.
const listQuerySchema = z.object({
  status: z.enum(['active', 'inactive', 'revoked', 'expired']).optional().catch(undefined),
  owner: z.string().trim().max(64).optional().catch(undefined),
  tag: z.string().trim().max(50).optional().catch(undefined),
  expires: z.enum(EXPIRY_FILTERS).optional().catch(undefined),
  q: z.string().trim().max(200).optional().catch(undefined),
  sort: z.enum(Object.keys(KEY_SORTS) as [keyof typeof KEY_SORTS]).catch('newest'),
  // Page numbers reach MAX_OFFSET keys deep; deeper pages follow the cursor of "Next".
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1),
  cursor: z.string().max(512).optional().catch(undefined),
  size: z.coerce.number().int().refine((n) => PAGE_SIZES.includes(n)).catch(20),
});

/** GET /keys. */
export function keyListRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();

  router.get('/keys', signedIn, requireTenant(pages), async (req, res) => {
    const viewer = tenantOf(req);
    const query = listQuerySchema.parse(req.query);
    const now = ctx.dashboard.clock();
    const ownerId = ownerScope(viewer) ?? (query.owner || undefined);
    const sort = KEY_SORTS[query.sort];
    const order = { sort: sort.sort, order: sort.order } as const;
    // A bad cursor in a hand-edited link starts over at the first page, like other bad filters.
    let cursor: KeyCursor | undefined;
    try {
      cursor = query.cursor ? decodeCursor(query.cursor, order) : undefined;
    } catch {
      cursor = undefined;
    }
    const page = cursor ? 1 : Math.min(query.page, Math.floor(MAX_OFFSET / query.size) + 1);
    const found = await listKeyPage(
      ctx.database,
      {
        tenantId: viewer.tenant.id,
        status: query.status,
        ownerId,
        tag: query.tag || undefined,
        expires: query.expires,
        search: query.q || undefined,
        ...order,
        page,
        size: query.size,
        cursor,
      },
      now,
    );
    const result = { data: found.rows, total: found.total };

    const today = new Date(dayStart(now.getTime()));
    const [owners, usage, budgets, members] = await Promise.all([
      ctx.users.findManyByIds(result.data.flatMap((k) => (k.ownerId ? [k.ownerId] : []))),
      keysDailyUsage(ctx.database.prisma, result.data.map((k) => k.id), today),
      Promise.all(result.data.map((k) => (k.budget ? limitStatus(ctx.limits, k, now.getTime()) : null))),
      viewer.managesTenant ? ctx.users.membersOf(viewer.tenant.id) : [],
    ]);
    const ownerEmail = new Map(owners.map((u) => [u.id, u.email]));
    const rows = result.data.map((key, i) => ({
      key,
      status: displayStatus(key, now),
      owner: key.ownerId ? (ownerEmail.get(key.ownerId) ?? null) : null,
      requestsToday: (usage.get(key.id) ?? []).reduce((sum, b) => sum + b.requestsOk + b.requestsFailed, 0),
      budget: budgets[i]?.budget ?? null,
    }));

    const filters = {
      status: query.status,
      owner: viewer.managesTenant ? query.owner : undefined,
      tag: query.tag,
      expires: query.expires,
      q: query.q,
      sort: query.sort === 'newest' ? undefined : query.sort,
      size: query.size === 20 ? undefined : query.size,
    };
    const filtered = Boolean(query.status || (viewer.managesTenant && query.owner) || query.tag || query.expires || query.q);
    pages.send(req, res, 'keys/list', {
      title: 'API keys',
      rows,
      query,
      filtered,
      members,
      sorts: KEY_SORTS,
      expiries: EXPIRY_CHOICES,
      pageSizes: PAGE_SIZES,
      pagination: paginate('/keys', filters, page, query.size, result.total, {
        capped: found.totalCapped,
        nextCursor: found.nextCursor,
        onCursor: Boolean(cursor),
      }),
    });
  });

  return router;
}
