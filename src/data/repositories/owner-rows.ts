/**
 * The daily rollup rows of one owner's keys, for a member's overview: driven by the owner's keys
 * (the (tenantId, ownerId) index), then each key's rows by primary key (keyId, bucketStart), never
 * the whole tenant's rows. SQLite's CROSS JOIN keeps the keys as the outer loop.
 */
import type { Database } from '../database';
import type { ReadParam } from '../list-reads';

/** The FROM and WHERE of such a read (`d` is the rollup, `k` the key), and its parameters. */
export function ownerRowsFrom(
  db: Pick<Database, 'provider'>,
  table: 'usage_daily' | 'usage_outcomes_daily',
  tenantId: string,
  ownerId: string,
  from: Date,
): { sql: string; params: ReadParam[] } {
  const join = db.provider === 'sqlite' ? 'CROSS JOIN' : 'JOIN';
  return {
    sql: `FROM "api_keys" k ${join} "${table}" d ON d."keyId" = k."id" AND d."bucketStart" >= ? WHERE k."tenantId" = ? AND k."ownerId" = ?`,
    params: [from, tenantId, ownerId],
  };
}
