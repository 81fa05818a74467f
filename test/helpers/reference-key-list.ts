/**
 * The straightforward Prisma versions of the key list and the key counts (findMany with OFFSET, a
 * full COUNT per status), as the app ran them before key-list.ts. Too slow for a large tenant, so
 * no longer in src/; kept as a test oracle for key-list.ts: an independent implementation of the
 * same filters, order and counts. Rows are read by id (findKeysByIds) only to build the records;
 * which keys match, and in what order, is decided here.
 */
import type { ApiKeyRecord, DisplayStatus, ExpiryFilter } from '@keyward/guard';
import type { Prisma } from '../../src/data/client-types';
import type { Database } from '../../src/data/database';
import { findKeysByIds, foldTag } from '../../src/data/repositories/api-keys';
import type { KeyPageQuery } from '../../src/data/repositories/key-list';

/** The filters and order of key-list.ts's query, with a page number (no cursor: OFFSET here). */
export type ReferenceKeyListQuery = Omit<KeyPageQuery, 'page' | 'cursor'> & { page: number };

const DAY_MS = 86_400_000;

function expiryWhere(expires: ExpiryFilter, now: Date): Prisma.ApiKeyWhereInput {
  switch (expires) {
    case 'expired':
      return { expiresAt: { lte: now } };
    case 'never':
      return { expiresAt: null };
    default: {
      // What the overview lists as "expiring within 7 days": keys that still work until then.
      const days = expires === '7d' ? 7 : 30;
      return { expiresAt: { gt: now, lt: new Date(now.getTime() + days * DAY_MS) }, status: { not: 'revoked' } };
    }
  }
}

function statusWhere(status: DisplayStatus, now: Date): Prisma.ApiKeyWhereInput {
  const notExpired: Prisma.ApiKeyWhereInput = { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] };
  switch (status) {
    case 'revoked':
      return { status: 'revoked' };
    case 'expired':
      return { status: { not: 'revoked' }, expiresAt: { lte: now } };
    default:
      return { status, ...notExpired };
  }
}

/** One page of a tenant's keys, newest first unless another sort is asked for, with the full count. */
export async function referenceListKeys(
  database: Database,
  query: ReferenceKeyListQuery,
  now = new Date(),
): Promise<{ rows: ApiKeyRecord[]; total: number }> {
  const where: Prisma.ApiKeyWhereInput = {
    tenantId: query.tenantId,
    ...(query.ownerId ? { ownerId: query.ownerId } : {}),
    // Tags compare case-insensitively.
    ...(query.tag ? { tags: { some: { tenantId: query.tenantId, tagLower: foldTag(query.tag) } } } : {}),
    AND: [
      query.status ? statusWhere(query.status, now) : {},
      query.expires ? expiryWhere(query.expires, now) : {},
      query.search
        ? { OR: [{ name: database.containsText(query.search) }, { description: database.containsText(query.search) }] }
        : {},
    ],
  };
  const direction = query.order ?? (query.sort === 'name' ? 'asc' : 'desc');
  const [ids, total] = await Promise.all([
    database.prisma.apiKey.findMany({
      where,
      select: { id: true },
      // PostgreSQL and SQLite differ on where nulls sort, so say it: keys without an expiry come
      // last either way; never-used keys count as the least recently used (last when the most
      // recent come first).
      orderBy: [
        query.sort === 'expiresAt'
          ? { expiresAt: { sort: direction, nulls: 'last' } }
          : query.sort === 'lastUsedAt'
            ? { lastUsedAt: { sort: direction, nulls: direction === 'desc' ? 'last' : 'first' } }
            : { [query.sort ?? 'createdAt']: direction },
        { id: direction },
      ],
      skip: (query.page - 1) * query.size,
      take: query.size,
    }),
    database.prisma.apiKey.count({ where }),
  ]);
  return { rows: await findKeysByIds(database.prisma, ids.map((row) => row.id)), total };
}

/** Key counts of a tenant by displayed status, each a full count. */
export async function referenceCountKeysByStatus(
  database: Database,
  tenantId: string,
  now = new Date(),
): Promise<Record<DisplayStatus, number>> {
  const count = (status: DisplayStatus) => database.prisma.apiKey.count({ where: { tenantId, ...statusWhere(status, now) } });
  const [active, inactive, revoked, expired] = await Promise.all([
    count('active'),
    count('inactive'),
    count('revoked'),
    count('expired'),
  ]);
  return { active, inactive, revoked, expired };
}
