/**
 * The request log (request_log), the client addresses of each key (key_client_addresses) and
 * unknown-key attempts (unknown_key_attempts): reads, and the retention deletes.
 *
 * A key's log is read newest first through the index (keyId, at, id), with a keyset cursor on
 * (at, id): rows inserted while someone pages (always with a later id, and usually a later time)
 * never shift the rows after the cursor, so pages have neither duplicates nor gaps.
 */
import type { RequestLogRow } from '../../usage/usage-batch';
import type { Db, Prisma } from '../client-types';

/** A stored request-log row: what the buffer wrote (usage-batch.ts), with its id and time as read back. */
export interface RequestLogEntry extends Omit<RequestLogRow, 'tenantId' | 'at' | 'outcome'> {
  id: bigint;
  at: Date;
  outcome: string;
}

/** Where a page starts: strictly older than this row. */
export interface LogCursor {
  at: Date;
  id: bigint;
}

/** A page of one key's log: its size, where it starts, and filters. */
export interface RequestLogQuery {
  keyId: string;
  tenantId: string;
  limit: number;
  after?: LogCursor;
  outcome?: string;
  ip?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

/** One page, newest first, and whether older rows match too. */
export async function listRequestLog(db: Db, query: RequestLogQuery): Promise<{ rows: RequestLogEntry[]; more: boolean }> {
  const and: Prisma.RequestLogWhereInput[] = [{ keyId: query.keyId, tenantId: query.tenantId }];
  if (query.outcome) and.push({ outcome: query.outcome });
  if (query.ip) and.push({ ip: query.ip });
  if (query.from || query.to) and.push({ at: { gte: query.from, lt: query.to } });
  if (query.after) and.push({ OR: [{ at: { lt: query.after.at } }, { at: query.after.at, id: { lt: query.after.id } }] });
  const rows = await db.requestLog.findMany({
    where: { AND: and },
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
  });
  return {
    more: rows.length > query.limit,
    rows: rows.slice(0, query.limit).map((row) => ({
      id: row.id,
      keyId: row.keyId,
      at: row.at,
      outcome: row.outcome,
      status: row.status,
      ip: row.ip,
      model: row.model,
      chatbot: row.chatbot,
      tokens: Number(row.tokens),
      costMicroCents: Number(row.costMicroCents),
      latencyMs: row.latencyMs,
      requestId: row.requestId,
      userAgent: row.userAgent,
    })),
  };
}

/** A client address a key was used from. */
export interface ClientAddress {
  ip: string;
  firstSeenAt: Date;
  lastSeenAt: Date;
  requests: number;
}

/** The addresses a key was used from, most recently seen first (index keyId, lastSeenAt). */
export async function keyClientAddresses(db: Db, keyId: string, tenantId: string, limit: number): Promise<ClientAddress[]> {
  const rows = await db.keyClientAddress.findMany({
    where: { keyId, tenantId },
    orderBy: [{ lastSeenAt: 'desc' }, { ip: 'asc' }],
    take: limit,
  });
  return rows.map((row) => ({ ip: row.ip, firstSeenAt: row.firstSeenAt, lastSeenAt: row.lastSeenAt, requests: Number(row.requests) }));
}

/** Unknown-key attempts of one address over a range of days. */
export interface UnknownKeyAttempts {
  ip: string;
  attempts: number;
  blockedAttempts: number;
  lastSeenAt: Date;
}

/** Addresses with the most attempts naming no key from `from` (whole UTC days), most first. */
export async function unknownKeyAttemptsByAddress(db: Db, from: Date, limit: number): Promise<UnknownKeyAttempts[]> {
  const rows = await db.unknownKeyAttempt.groupBy({
    by: ['ip'],
    where: { bucketStart: { gte: from } },
    _sum: { attempts: true, blockedAttempts: true },
    _max: { lastSeenAt: true },
  });
  return rows
    .map((row) => ({
      ip: row.ip,
      attempts: Number(row._sum.attempts ?? 0n),
      blockedAttempts: Number(row._sum.blockedAttempts ?? 0n),
      lastSeenAt: row._max.lastSeenAt ?? from,
    }))
    .sort((a, b) => b.attempts + b.blockedAttempts - (a.attempts + a.blockedAttempts) || b.lastSeenAt.getTime() - a.lastSeenAt.getTime())
    .slice(0, limit);
}

/**
 * Deletes the request log's oldest rows (lowest ids) up to `batchSize` of them, those older than
 * `cutoff`, in one short statement through the primary key; returns how many. Call it again while
 * it returns `batchSize`: fewer means the oldest ids reached a row inside retention, and rows are
 * written in the order they happen, so what follows is too. A row written late (a usage write held
 * through an outage, or moved by a fold, whose rows get their ids in key order: see
 * moveStagedRequestLog) has a later id than its time: it goes as many seconds late as it was written.
 * Kept this way so that no index on `at` costs every request's insert (see the migration
 * request_log_drop_at_index).
 */
export async function deleteRequestLogBefore(db: Db, cutoff: Date, batchSize: number): Promise<number> {
  return db.$executeRaw`DELETE FROM "request_log" WHERE "id" IN (
      SELECT "id" FROM (SELECT "id", "at" FROM "request_log" ORDER BY "id" LIMIT ${batchSize}) AS "oldest" WHERE "at" < ${cutoff})`;
}

/** Deletes client addresses last seen before `cutoff` (index on lastSeenAt); returns how many. */
export async function deleteClientAddressesBefore(db: Db, cutoff: Date): Promise<number> {
  const { count } = await db.keyClientAddress.deleteMany({ where: { lastSeenAt: { lt: cutoff } } });
  return count;
}

/** Deletes unknown-key attempts of days before `cutoff` (primary key starts with the day); returns how many. */
export async function deleteUnknownKeyAttemptsBefore(db: Db, cutoff: Date): Promise<number> {
  const { count } = await db.unknownKeyAttempt.deleteMany({ where: { bucketStart: { lt: cutoff } } });
  return count;
}
