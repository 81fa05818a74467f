/**
 * A tenant's keys, one page at a time, at any size (a million keys in one tenant answers in a few
 * milliseconds):
 *
 * - Keyset pagination: every order ends with `id`, the tie-breaker, and a cursor holds the last
 *   row's (sort value, id), so the next page seeks the (tenantId, sort, id) index instead of
 *   skipping rows. Nullable sorts (last use, expiry) are read as two index-ordered segments, the
 *   keys with a value then the keys without, so both databases walk an index whatever their NULL
 *   order. Page numbers still work up to MAX_OFFSET rows (they read that many index entries at most).
 * - Capped counts: a list counts at most COUNT_CAP + 1 matches ("more than 10,000"); a search
 *   no index serves (1-2 characters) at most SHORT_SEARCH_COUNT_CAP + 1.
 * - Search through a trigram index (SQLite FTS5, PostgreSQL pg_trgm), confirmed by the same
 *   literal, case-insensitive LIKE as before, so it matches exactly what it matched before. On
 *   PostgreSQL its matches are counted and paged in one pass (countAndPageInOnePass).
 * - Tag filter through the (tenantId, tagLower, keyId) index.
 * - A filter with few matches (a rare tag or search term) is read from its index and sorted;
 *   otherwise the sort index is walked and rows filtered, which stops after a page.
 *
 * The id and count statements run through database.reads (off the app's thread on SQLite); the
 * page's rows are then read by primary key.
 */
import type { ApiKeyRecord, DisplayStatus, ExpiryFilter } from '@keyward/guard';
import { AppError } from '../../errors';
import type { Database } from '../database';
import { escapeLike } from '../dialects/like-escape';
import type { ReadParam } from '../list-reads';
import { findKeysByIds, foldTag } from './api-keys';

/** Counts stop here: a list says "more than 10,000" rather than scanning a million rows. */
export const COUNT_CAP = 10_000;
/** Page numbers reach this many rows deep; deeper pages are reached with a cursor. */
export const MAX_OFFSET = COUNT_CAP;
/** A narrowed count tests at most this many candidates (see cappedCount). */
export const CANDIDATE_LIMIT = 4_000;
/**
 * A search no index serves (fewer than 3 characters) is counted up to here ("more than 1,000"):
 * each match counted costs a scan of the rows between matches, so a common pair of letters ("ml",
 * in 9% of the keys) cost 110,000 rows to count to 10,000 (about 100 ms on PostgreSQL).
 */
export const SHORT_SEARCH_COUNT_CAP = 1_000;

/** The bounds above (smaller in tests). */
export interface ListLimits {
  countCap: number;
  candidateLimit: number;
  maxOffset: number;
  shortSearchCountCap: number;
}
const DEFAULT_LIMITS: ListLimits = { countCap: COUNT_CAP, candidateLimit: CANDIDATE_LIMIT, maxOffset: MAX_OFFSET, shortSearchCountCap: SHORT_SEARCH_COUNT_CAP };

export type KeySort = 'createdAt' | 'name' | 'lastUsedAt' | 'expiresAt';
export type SortOrder = 'asc' | 'desc';

export interface KeyPageQuery {
  tenantId: string;
  status?: DisplayStatus;
  ownerId?: string;
  tag?: string;
  search?: string;
  expires?: ExpiryFilter;
  sort?: KeySort;
  order?: SortOrder;
  size: number;
  /** 1-based page number (offset pagination, up to MAX_OFFSET rows); ignored with a cursor. */
  page?: number;
  /** Where the previous page ended (nextCursor of that page). */
  cursor?: KeyCursor;
}

/** The last row of a page, in the page's order. */
export interface KeyCursor {
  sort: KeySort;
  order: SortOrder;
  /** The row's sort value: ms for times, text for names; null in the null segment. */
  value: number | string | null;
  id: string;
}

export interface KeyPage {
  rows: ApiKeyRecord[];
  /** Matches counted up to COUNT_CAP; `totalCapped` when there are more. */
  total: number;
  totalCapped: boolean;
  /** Where the next page starts, or null on the last page. */
  nextCursor: string | null;
}

const DAY_MS = 86_400_000;
const NULLABLE: Record<KeySort, boolean> = { createdAt: false, name: false, lastUsedAt: true, expiresAt: true };
const TIME_SORT: Record<KeySort, boolean> = { createdAt: true, name: false, lastUsedAt: true, expiresAt: true };

/** The order a list uses: as asked, else newest first (names A-Z). */
export function orderOf(query: Pick<KeyPageQuery, 'sort' | 'order'>): { sort: KeySort; order: SortOrder } {
  const sort = query.sort ?? 'createdAt';
  return { sort, order: query.order ?? (sort === 'name' ? 'asc' : 'desc') };
}

// ---------------------------------------------------------------- cursors

/** 400 invalid_cursor, naming the field. */
export function invalidCursor(message: string): AppError {
  return new AppError({ status: 400, code: 'invalid_cursor', message: `Invalid value for: cursor. ${message}`, details: [{ field: 'cursor', message }] });
}

/** A cursor as the `cursor` query parameter carries it (base64url JSON, opaque to clients). */
export function encodeCursor(cursor: KeyCursor): string {
  return Buffer.from(JSON.stringify([cursor.sort, cursor.order, cursor.value, cursor.id])).toString('base64url');
}

const SORTS = new Set<string>(['createdAt', 'name', 'lastUsedAt', 'expiresAt']);
const KEY_ID = /^[0-9A-Za-z]{1,64}$/;

/**
 * Parses a `cursor` parameter for a list in `order`; throws 400 invalid_cursor when it is not one
 * this list handed out (malformed, or from a list sorted another way).
 */
export function decodeCursor(text: unknown, order: { sort: KeySort; order: SortOrder }): KeyCursor {
  const fail = (why: string) => invalidCursor(why);
  if (typeof text !== 'string' || text.length === 0 || text.length > 512 || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw fail('must be the nextCursor of a previous page');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw fail('must be the nextCursor of a previous page');
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw fail('must be the nextCursor of a previous page');
  const [sort, direction, value, id] = parsed as unknown[];
  if (typeof sort !== 'string' || !SORTS.has(sort) || (direction !== 'asc' && direction !== 'desc')) {
    throw fail('must be the nextCursor of a previous page');
  }
  if (sort !== order.sort || direction !== order.order) throw fail('belongs to a list sorted another way: keep sort and order as they were');
  if (typeof id !== 'string' || !KEY_ID.test(id)) throw fail('must be the nextCursor of a previous page');
  const key = sort as KeySort;
  const valueOk =
    value === null
      ? NULLABLE[key]
      : TIME_SORT[key]
        ? typeof value === 'number' && Number.isSafeInteger(value) && Math.abs(value) <= 8.64e15
        : typeof value === 'string' && value.length <= 400;
  if (!valueOk) throw fail('must be the nextCursor of a previous page');
  return { sort: key, order: direction, value: value as number | string | null, id };
}

// ---------------------------------------------------------------- SQL

interface Where {
  sql: string[];
  params: ReadParam[];
}

/** Whether a search uses the trigram index: it needs at least 3 characters. */
export function searchUsesIndex(search: string): boolean {
  return [...search].length >= 3;
}

/** An FTS5 query matching `text` as a phrase in name or description (quotes doubled). */
export function ftsPhrase(text: string): string {
  return `{name description} : "${text.replace(/"/g, '""')}"`;
}

/**
 * Key ids from one index, and the same condition tested per row (`member`; null when the row
 * conditions imply it already, as the search's LIKE does).
 */
interface Narrowing {
  sql: string;
  params: ReadParam[];
  /** Its ids are the tenant's keys matching it, so it can be counted alone (the tag's are). */
  countable: boolean;
  member: { sql: string; params: ReadParam[] } | null;
}

function filters(db: Database, query: KeyPageQuery, now: Date): { where: Where; narrowing: Narrowing | null } {
  const sql: string[] = ['k."tenantId" = ?'];
  const params: ReadParam[] = [query.tenantId];
  const time = (date: Date) => db.reads.time(date);
  if (query.ownerId) {
    sql.push('k."ownerId" = ?');
    params.push(query.ownerId);
  }
  switch (query.status) {
    case undefined:
      break;
    case 'revoked':
      sql.push(`k."status" = 'revoked'`);
      break;
    case 'expired':
      sql.push(`k."status" IN ('active', 'inactive') AND k."expiresAt" <= ?`);
      params.push(time(now));
      break;
    default:
      sql.push(`k."status" = ? AND (k."expiresAt" IS NULL OR k."expiresAt" > ?)`);
      params.push(query.status, time(now));
  }
  switch (query.expires) {
    case undefined:
      break;
    case 'expired':
      sql.push('k."expiresAt" <= ?');
      params.push(time(now));
      break;
    case 'never':
      sql.push('k."expiresAt" IS NULL');
      break;
    default: {
      const days = query.expires === '7d' ? 7 : 30;
      sql.push(`k."expiresAt" > ? AND k."expiresAt" < ? AND k."status" <> 'revoked'`);
      params.push(time(now), time(new Date(now.getTime() + days * DAY_MS)));
    }
  }
  // The narrowing set: key ids read from one index (the tag's, else the search's), which drives the
  // loop when it is small; when it is large, each row is tested instead (`member`).
  let narrowing: Narrowing | null = null;
  if (query.search) {
    const pattern = `%${escapeLike(query.search)}%`;
    if (db.provider === 'sqlite') {
      // The trigram index finds candidates; LIKE keeps exactly what the search matched before.
      sql.push(`(k."name" LIKE ? ESCAPE '\\' OR k."description" LIKE ? ESCAPE '\\')`);
      params.push(pattern, pattern);
      if (searchUsesIndex(query.search)) {
        narrowing = { sql: 'SELECT "keyId" FROM "api_keys_search" WHERE "api_keys_search" MATCH ?', params: [ftsPhrase(query.search)], member: null, countable: false };
      }
    } else {
      // The expression of the pg_trgm index, then the literal test on each column.
      sql.push(`(k."name" || ' ' || k."description") ILIKE ? AND (k."name" ILIKE ? OR k."description" ILIKE ?)`);
      params.push(pattern, pattern, pattern);
    }
  }
  if (query.tag) {
    const tag = foldTag(query.tag);
    if (narrowing) {
      sql.push('EXISTS (SELECT 1 FROM "api_key_tags" t WHERE t."tenantId" = ? AND t."tagLower" = ? AND t."keyId" = k."id")');
      params.push(query.tenantId, tag);
    }
    narrowing = {
      // DISTINCT: "Prod" and "prod" on one key are two rows of one lower-cased tag.
      sql: 'SELECT DISTINCT "keyId" FROM "api_key_tags" WHERE "tenantId" = ? AND "tagLower" = ?',
      params: [query.tenantId, tag],
      countable: true,
      member: { sql: 'EXISTS (SELECT 1 FROM "api_key_tags" t WHERE t."tenantId" = ? AND t."tagLower" = ? AND t."keyId" = k."id")', params: [query.tenantId, tag] },
    };
  }
  return { where: { sql, params }, narrowing };
}

/** How the ids of a page are found: walking the sort index, or from a narrowing set then sorted. */
type Plan = 'sort-index' | 'match-set';

interface Segment {
  /** true: rows whose sort value IS NULL (ordered by id alone). */
  nulls: boolean;
  /** Rows strictly after this position in the segment's order. */
  after?: { value: number | string | null; id: string };
}

function column(sort: KeySort): string {
  return `k."${sort}"`;
}

/** The segments of an order: values first, then NULLs (or NULLs first for "least recently used"). */
function segmentsOf(sort: KeySort, order: SortOrder): boolean[] {
  if (!NULLABLE[sort]) return [false];
  // Never-used keys are the least recently used: last when the most recent come first, first otherwise.
  if (sort === 'lastUsedAt' && order === 'asc') return [true, false];
  return [false, true];
}

async function segmentIds(
  db: Database,
  query: KeyPageQuery,
  where: Where,
  narrowing: Narrowing | null,
  plan: Plan,
  segment: Segment,
  limit: number,
  offset = 0,
): Promise<{ id: string; value: unknown }[]> {
  const { sort, order } = orderOf(query);
  const dir = order === 'desc' ? 'DESC' : 'ASC';
  const cmp = order === 'desc' ? '<' : '>';
  const sql = [...where.sql];
  const params = [...where.params];
  const col = column(sort);
  if (NULLABLE[sort]) sql.push(segment.nulls ? `${col} IS NULL` : `${col} IS NOT NULL`);
  if (segment.after) {
    if (segment.nulls) {
      sql.push(`k."id" ${cmp} ?`);
      params.push(segment.after.id);
    } else {
      const value = boundSortValue(db, sort, segment.after.value);
      // A row value: both databases seek the (tenantId, sort, id) index to it (an OR would scan).
      sql.push(`(${col}, k."id") ${cmp} (?, ?)`);
      params.push(value, segment.after.id);
    }
  }
  const orderBy = segment.nulls ? `k."id" ${dir}` : `${col} ${dir}, k."id" ${dir}`;
  let text: string;
  let all: ReadParam[];
  if (narrowing && plan === 'match-set') {
    // Few matches: read them from their index, then sort (SQLite: CROSS JOIN keeps that order of loops).
    const join = db.provider === 'sqlite' ? 'CROSS JOIN' : 'JOIN';
    text = `SELECT k."id" AS "id", ${col} AS "value" FROM (${narrowing.sql}) m ${join} "api_keys" k ON k."id" = m."keyId"
             WHERE ${sql.join(' AND ')} ORDER BY ${orderBy} LIMIT ? OFFSET ?`;
    all = [...narrowing.params, ...params, limit, offset];
  } else {
    // Many matches (or no narrowing set): walk the sort index and test each row; it stops after a page.
    const member = narrowing?.member;
    text = `SELECT k."id" AS "id", ${col} AS "value" FROM "api_keys" k WHERE ${[...sql, ...(member ? [member.sql] : [])].join(' AND ')} ORDER BY ${orderBy} LIMIT ? OFFSET ?`;
    all = [...params, ...(member ? member.params : []), limit, offset];
  }
  return db.reads.all<{ id: string; value: unknown }>(text, all);
}

/**
 * Matches of the filters, counted up to COUNT_CAP + 1. With a narrowing set, at most
 * CANDIDATE_LIMIT of its ids are tested (a common tag combined with a rare status would otherwise
 * test every key of the tag): when the limit stops the count, it is a lower bound (`exhaustive`
 * false), shown as "more than".
 */
async function cappedCount(
  db: Database,
  where: Where,
  narrowing: Narrowing | null,
  { countCap, candidateLimit }: ListLimits,
): Promise<{ count: number; exhaustive: boolean }> {
  if (!narrowing) {
    const rows = await db.reads.all<{ n: unknown }>(
      `SELECT COUNT(*) AS "n" FROM (SELECT 1 FROM "api_keys" k WHERE ${where.sql.join(' AND ')} LIMIT ?) c`,
      [...where.params, countCap + 1],
    );
    const count = Number(rows[0]?.n ?? 0);
    return { count, exhaustive: count <= countCap };
  }
  if (narrowing.countable && where.sql.length === 1) {
    // Only the tenant and the tag: counted on the tag index alone, no key row read.
    const rows = await db.reads.all<{ n: unknown }>(`SELECT COUNT(*) AS "n" FROM (${narrowing.sql} LIMIT ?) c`, [...narrowing.params, countCap + 1]);
    const count = Number(rows[0]?.n ?? 0);
    return { count, exhaustive: count <= countCap };
  }
  // The candidates stream from their index (SQLite: CROSS JOIN keeps them the outer loop).
  const join = db.provider === 'sqlite' ? 'CROSS JOIN' : 'JOIN';
  const rows = await db.reads.all<{ scanned: unknown; n: unknown }>(
    `SELECT COUNT(*) AS "scanned", COALESCE(SUM(CASE WHEN ${where.sql.join(' AND ')} THEN 1 ELSE 0 END), 0) AS "n"
       FROM (SELECT "keyId" FROM (${narrowing.sql}) s LIMIT ?) m ${join} "api_keys" k ON k."id" = m."keyId"`,
    [...where.params, ...narrowing.params, candidateLimit],
  );
  const scanned = Number(rows[0]?.scanned ?? 0);
  const count = Number(rows[0]?.n ?? 0);
  return { count, exhaustive: scanned < candidateLimit && count <= countCap };
}

/** A cursor's (non-null) sort value as a statement binds it: times as this provider stores them. */
function boundSortValue(db: Database, sort: KeySort, value: number | string | null): ReadParam {
  return TIME_SORT[sort] ? db.reads.time(new Date(value as number)) : (value as string);
}

function cursorValue(sort: KeySort, value: unknown): number | string | null {
  if (value === null || value === undefined) return null;
  if (!TIME_SORT[sort]) return String(value);
  return (value instanceof Date ? value : new Date(String(value))).getTime();
}

/** Ids of `limit` rows after `cursor` (or from the start), across the order's segments. */
async function idsFrom(
  db: Database,
  query: KeyPageQuery,
  where: Where,
  narrowing: Narrowing | null,
  plan: Plan,
  cursor: KeyCursor | undefined,
  limit: number,
  offset = 0,
): Promise<{ id: string; value: number | string | null }[]> {
  const { sort, order } = orderOf(query);
  const segments = segmentsOf(sort, order);
  let start = 0;
  if (cursor) {
    const inNulls = cursor.value === null;
    start = segments.indexOf(inNulls);
  }
  const out: { id: string; value: number | string | null }[] = [];
  let skip = offset;
  for (let i = start; i < segments.length && out.length < limit; i++) {
    const nulls = segments[i];
    const after = cursor && i === start ? { value: cursor.value, id: cursor.id } : undefined;
    const rows = await segmentIds(db, query, where, narrowing, plan, { nulls, after }, limit - out.length, skip);
    for (const row of rows) out.push({ id: row.id, value: nulls ? null : cursorValue(sort, row.value) });
    if (skip > 0 && i + 1 < segments.length) {
      // The rest of the offset carries into the next segment: how many rows this one held (up to skip).
      if (rows.length > 0) skip = 0;
      else skip -= (await segmentIds(db, query, where, narrowing, plan, { nulls, after }, skip, 0)).length;
    }
  }
  return out;
}

/**
 * PostgreSQL, a search its trigram index serves and no tag: the matches are found once (a bitmap
 * scan of the index, then each candidate row rechecked: 55-65 ms for a common term at a million
 * keys), counted, and the page taken from the same rows, where a count and a page query each
 * repeated that scan. When more than countCap match, only the count is answered (`ids` null): the
 * page then walks the sort index, which finds a page of a common term quickly.
 */
async function countAndPageInOnePass(
  db: Database,
  query: KeyPageQuery,
  where: Where,
  countCap: number,
  limit: number,
  offset: number,
): Promise<{ count: number; ids: { id: string; value: number | string | null }[] | null }> {
  const { sort, order } = orderOf(query);
  const dir = order === 'desc' ? 'DESC' : 'ASC';
  const cmp = order === 'desc' ? '<' : '>';
  const segments = segmentsOf(sort, order);
  // The segments' order in one ORDER BY: a null value sorts by id alone, as segmentIds reads it.
  const orderBy = [...(NULLABLE[sort] ? [`("value" IS NULL) ${segments[0] ? 'DESC' : 'ASC'}`] : []), `"value" ${dir}`, `"id" ${dir}`].join(', ');
  const after: string[] = [];
  const afterParams: ReadParam[] = [];
  const cursor = query.cursor;
  if (cursor) {
    const inNulls = cursor.value === null;
    if (inNulls) {
      after.push(`("value" IS NULL AND "id" ${cmp} ?)`);
      afterParams.push(cursor.id);
    } else {
      const value = boundSortValue(db, sort, cursor.value);
      after.push(`("value" IS NOT NULL AND ("value", "id") ${cmp} (?, ?))`);
      afterParams.push(value, cursor.id);
    }
    // The segment after the cursor's, whole.
    const next = segments[segments.indexOf(inNulls) + 1];
    if (next !== undefined) after.push(next ? '"value" IS NULL' : '"value" IS NOT NULL');
  }
  const rows = await db.reads.all<{ n: unknown; id: string | null; value: unknown }>(
    `WITH m AS MATERIALIZED (SELECT k."id" AS "id", ${column(sort)} AS "value" FROM "api_keys" k WHERE ${where.sql.join(' AND ')} LIMIT ?)
     SELECT c."n" AS "n", p."id" AS "id", p."value" AS "value"
       FROM (SELECT COUNT(*) AS "n" FROM m) c
       LEFT JOIN LATERAL (SELECT "id", "value" FROM m ${after.length ? `WHERE ${after.join(' OR ')}` : ''} ORDER BY ${orderBy} LIMIT ? OFFSET ?) p ON c."n" <= ?`,
    [...where.params, countCap + 1, ...afterParams, limit, offset, countCap],
  );
  const count = Number(rows[0]?.n ?? 0);
  if (count > countCap) return { count, ids: null };
  return { count, ids: rows.flatMap((row) => (row.id === null ? [] : [{ id: row.id, value: cursorValue(sort, row.value) }])) };
}

/** One page of a tenant's keys (see the module comment). */
export async function listKeyPage(db: Database, query: KeyPageQuery, now = new Date(), limits: ListLimits = DEFAULT_LIMITS): Promise<KeyPage> {
  const { sort, order } = orderOf(query);
  const { where, narrowing } = filters(db, query, now);
  const offset = query.cursor ? 0 : ((query.page ?? 1) - 1) * query.size;
  if (offset > limits.maxOffset) throw deepPage(limits.maxOffset);
  const indexedSearch = query.search !== undefined && searchUsesIndex(query.search);
  const countCap = query.search !== undefined && !indexedSearch ? limits.shortSearchCountCap : limits.countCap;
  let count: number;
  let exhaustive: boolean;
  let ids: { id: string; value: number | string | null }[] | null = null;
  if (db.provider === 'postgresql' && indexedSearch && !narrowing) {
    const pass = await countAndPageInOnePass(db, query, where, countCap, query.size + 1, offset);
    ({ count, ids } = pass);
    exhaustive = count <= countCap;
  } else {
    ({ count, exhaustive } = await cappedCount(db, where, narrowing, { ...limits, countCap }));
  }
  if (ids === null) {
    // All matches known and few: read them from their index and sort; else walk the sort index.
    const plan: Plan = narrowing && exhaustive ? 'match-set' : 'sort-index';
    ids = offset < count || !exhaustive ? await idsFrom(db, query, where, narrowing, plan, query.cursor, query.size + 1, offset) : [];
  }
  const more = ids.length > query.size;
  const page = ids.slice(0, query.size);
  const last = page[page.length - 1];
  const rows = await findKeysByIds(db.prisma, page.map((r) => r.id));
  return {
    rows,
    total: Math.min(count, countCap),
    totalCapped: !exhaustive,
    nextCursor: more && last ? encodeCursor({ sort, order, value: last.value, id: last.id }) : null,
  };
}

/** 400 for a page number deeper than MAX_OFFSET rows. */
export function deepPage(maxOffset = MAX_OFFSET): AppError {
  const message = `reaches past the first ${maxOffset.toLocaleString('en-US')} keys: follow nextCursor (the cursor parameter) to go deeper`;
  return new AppError({ status: 400, code: 'validation_error', message: `Invalid value for: page. ${message}`, details: [{ field: 'page', message }] });
}

/**
 * Key counts of a tenant by displayed status, without scanning its keys: stored statuses from
 * tenant_key_counts (kept by triggers), minus the expired ones, a range of the
 * (tenantId, status, expiresAt) index.
 */
export async function countKeysByStatusFast(db: Database, tenantId: string, now = new Date()): Promise<Record<DisplayStatus, number>> {
  const [stored, expired] = await Promise.all([
    db.reads.all<{ status: string; count: unknown }>('SELECT "status", "count" FROM "tenant_key_counts" WHERE "tenantId" = ?', [tenantId]),
    db.reads.all<{ status: string; n: unknown }>(
      `SELECT "status", COUNT(*) AS "n" FROM "api_keys" WHERE "tenantId" = ? AND "status" IN ('active', 'inactive') AND "expiresAt" <= ? GROUP BY "status"`,
      [tenantId, db.reads.time(now)],
    ),
  ]);
  const of = (rows: { status: string }[], status: string, field: 'count' | 'n') =>
    Number((rows.find((r) => r.status === status) as Record<string, unknown> | undefined)?.[field] ?? 0);
  const expiredActive = of(expired, 'active', 'n');
  const expiredInactive = of(expired, 'inactive', 'n');
  return {
    active: of(stored, 'active', 'count') - expiredActive,
    inactive: of(stored, 'inactive', 'count') - expiredInactive,
    revoked: of(stored, 'revoked', 'count'),
    expired: expiredActive + expiredInactive,
  };
}

/** The counts with their total, as the overview and /api/v1/stats show them. */
export async function keyStats(db: Database, tenantId: string, now = new Date()): Promise<Record<DisplayStatus | 'total', number>> {
  const counts = await countKeysByStatusFast(db, tenantId, now);
  return { ...counts, total: counts.active + counts.inactive + counts.revoked + counts.expired };
}
