/**
 * The key_changes table: one row per key change, written in the change's own transaction and
 * read by every running process's change feed (src/keys/key-change-feed.ts).
 */
import type { Database } from '../database';
import type { Db, Tx } from '../client-types';

/** A change as the feed reads it back. */
export interface KeyChangeRow {
  id: number;
  keyId: string;
  tenantId: string;
  kind: string;
  /** The process (app context) that made the change. */
  origin: string;
}

/**
 * Appends a change record and returns its id. Call it last in the change's transaction: from
 * here to the commit, other changes wait (see Dialect.lockKeyChanges).
 */
export async function insertKeyChange(
  db: Pick<Database, 'sql'>,
  tx: Tx,
  change: Omit<KeyChangeRow, 'id'>,
): Promise<number> {
  await db.sql.lockKeyChanges(tx);
  const row = await tx.keyChange.create({ data: change, select: { id: true } });
  return Number(row.id);
}

/** The newest change id, or 0 when there is none (an end of the primary key). */
export async function latestKeyChangeId(db: Db): Promise<number> {
  const { _max } = await db.keyChange.aggregate({ _max: { id: true } });
  return Number(_max.id ?? 0);
}

/** Up to `limit` changes after `afterId`, oldest first: a range scan of the primary key. */
export async function listKeyChangesAfter(db: Db, afterId: number, limit: number): Promise<KeyChangeRow[]> {
  const rows = await db.keyChange.findMany({
    where: { id: { gt: BigInt(afterId) } },
    orderBy: { id: 'asc' },
    take: limit,
    select: { id: true, keyId: true, tenantId: true, kind: true, origin: true },
  });
  return rows.map((row) => ({ ...row, id: Number(row.id) }));
}

/** Deletes changes recorded before `cutoff` (index on createdAt); returns how many. */
export async function deleteKeyChangesBefore(db: Db, cutoff: Date): Promise<number> {
  const { count } = await db.keyChange.deleteMany({ where: { createdAt: { lt: cutoff } } });
  return count;
}
