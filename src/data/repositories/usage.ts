/**
 * Usage writes and reads. Writes are atomic increments (`x = x + n`, INSERT ... ON CONFLICT DO
 * UPDATE), valid SQL on both SQLite and PostgreSQL, so several instances flushing at the same
 * time never lose or double-count. Rows are touched in key order so two concurrent batches lock
 * them in the same order.
 */
import type { CounterKind } from '@keyward/guard';
import type { KeyUsageDelta, RollupDelta, UsageBatch } from '../../usage/usage-buffer';
import type { Database } from '../database';
import { Prisma } from '../../generated/postgresql/client';
import type { Db } from '../client-types';
import { WritePlan } from '../write-plan';
import { compareText } from './batching';
import { ownerRowsFrom } from './owner-rows';
import { planJournalConsumed, planJournalRows } from './usage-journal';
import { tenantDailyTotals, upsertUsageRollups } from './usage-rollups';
import { planWindowDeltas, planWindowShareLock } from './usage-window';
import { firstSeenBy, type NewClientAddress, planVisibility } from './visibility-writes';

const byKey = <T extends { keyId: string }>(a: T, b: T) => compareText(a.keyId, b.keyId);

type SqlDatabase = Pick<Database, 'write' | 'sql' | 'prisma' | 'provider'>;

function upsertRollups(plan: WritePlan, table: 'usage_hourly' | 'usage_daily', rollups: RollupDelta[]): void {
  const name = Prisma.raw(`"${table}"`); // one of two constants, never input
  const sorted = [...rollups].sort((a, b) => byKey(a, b) || a.bucketStart - b.bucketStart);
  plan.executeRows(
    sorted,
    (r) => [r.keyId, plan.time(r.bucketStart), r.tenantId, r.requestsOk, r.requestsFailed, r.tokens, r.spendMicroCents],
    {
      build: (values) => Prisma.sql`INSERT INTO ${name} ("keyId", "bucketStart", "tenantId", "requestsOk", "requestsFailed", "tokens", "spendMicroCents")
       VALUES ${values}
       ON CONFLICT ("keyId", "bucketStart") DO UPDATE SET
         "requestsOk" = ${name}."requestsOk" + excluded."requestsOk",
         "requestsFailed" = ${name}."requestsFailed" + excluded."requestsFailed",
         "tokens" = ${name}."tokens" + excluded."tokens",
         "spendMicroCents" = ${name}."spendMicroCents" + excluded."spendMicroCents"`,
    },
  );
}

/**
 * Adds each key's counters (in one statement per chunk, or per key on a SQLite thread). The budget-period counter is added within
 * the stored period, started over (with its ceiling) when the batch's period is newer, and left
 * alone when the batch's period is older; only a key's newest period in the batch is applied
 * (older spend belongs to a period that has ended). lastUsedAt only moves forward; keys without
 * one to write (it is written at most once a minute) go in a statement that does not set it:
 * SQLite moves a column's index entries whenever it is set, even to its own value, and
 * (tenantId, lastUsedAt, id) would be moved for every key on every flush. Both statements find
 * their rows locked already (lockApiKeys).
 */
function addKeyCounters(db: SqlDatabase, plan: WritePlan, keys: KeyUsageDelta[]): void {
  const bigint = db.sql.cast('bigint');
  const timestamp = db.sql.cast('timestamp');
  const casts = [null, bigint, bigint, bigint, bigint, timestamp, bigint, timestamp];
  // lastUsedAt last: a key without one has no value there (a gap in ?1..?n would not bind).
  const row = (key: KeyUsageDelta) => {
    const period = key.budgetPeriod;
    return [
      key.keyId,
      key.requestsOk,
      key.requestsFailed,
      key.tokens,
      key.spendMicroCents,
      period === null ? null : plan.time(period),
      period === null ? 0 : key.budgetPeriodSpend,
      ...(key.lastUsedAt === null ? [] : [new Date(key.lastUsedAt)]),
    ];
  };
  // Through the client: every key from a VALUES list `v` joined to `k`; on a SQLite thread, one
  // plain UPDATE per key with ?1..?n (about 10 µs a key less than the join): the same SET clause.
  for (const lastUsed of [true, false]) {
    const group = keys.filter((key) => (key.lastUsedAt !== null) === lastUsed);
    if (group.length === 0) continue;
    const values = ['"id"', '"ok"', '"failed"', '"tokens"', '"spend"', '"period"', '"periodSpend"', ...(lastUsed ? ['"usedAt"'] : [])];
    plan.executeRows(group, row, {
      casts: casts.slice(0, values.length),
      build: (list) => Prisma.sql`WITH v (${Prisma.raw(values.join(', '))}) AS (VALUES ${list})
        UPDATE "api_keys" AS k SET ${Prisma.raw(keyCounterSets((i) => `v.${values[i]}`, 'k.', lastUsed))} FROM v WHERE k."id" = v."id"`,
      sqliteRow: `UPDATE "api_keys" SET ${keyCounterSets((i) => `?${i + 1}`, '', lastUsed)} WHERE "id" = ?1`,
    });
  }
}

/**
 * addKeyCounters' SET clause: `value(i)` names the row's i-th value, `key` prefixes the key's
 * columns; lastUsedAt is set only with `lastUsed`.
 */
function keyCounterSets(value: (i: number) => string, key: string, lastUsed: boolean): string {
  const [ok, failed, tokens, spend, period, periodSpend] = [1, 2, 3, 4, 5, 6].map(value);
  const usedAt = value(7);
  const col = (name: string) => `${key}"${name}"`;
  const newerPeriod = `${period} IS NOT NULL AND (${col('budgetPeriodStart')} IS NULL OR ${col('budgetPeriodStart')} < ${period})`;
  return `"requestsOk" = ${col('requestsOk')} + ${ok},
    "requestsFailed" = ${col('requestsFailed')} + ${failed},
    "tokens" = ${col('tokens')} + ${tokens},
    "spendMicroCents" = ${col('spendMicroCents')} + ${spend},
    ${lastUsed ? `"lastUsedAt" = CASE WHEN ${col('lastUsedAt')} IS NULL OR ${col('lastUsedAt')} < ${usedAt} THEN ${usedAt} ELSE ${col('lastUsedAt')} END,` : ''}
    "budgetSpentMicroCents" = CASE
      WHEN ${period} IS NULL THEN ${col('budgetSpentMicroCents')}
      WHEN ${col('budgetPeriodStart')} = ${period} THEN ${col('budgetSpentMicroCents')} + ${periodSpend}
      WHEN ${col('budgetPeriodStart')} IS NULL OR ${col('budgetPeriodStart')} < ${period} THEN ${periodSpend}
      ELSE ${col('budgetSpentMicroCents')} END,
    "budgetCeilingMicroCents" = CASE WHEN ${newerPeriod} THEN 0 ELSE ${col('budgetCeilingMicroCents')} END,
    "budgetPeriodStart" = CASE WHEN ${newerPeriod} THEN ${period} ELSE ${col('budgetPeriodStart')} END`;
}

/**
 * Writes one usage batch in one transaction: a handful of statements whatever the number of keys
 * (one per table, or per 400 rows). Keys deleted meanwhile are skipped (their history buckets,
 * outcome counts and request-log rows are still written). The statements are planned first and
 * run as one (database.write: on SQLite off the app's thread).
 */
export async function writeUsageBatch(db: SqlDatabase, batch: UsageBatch): Promise<UsageWriteResult> {
  const keys = [...batch.keys].sort(byKey);
  const plan = new WritePlan();
  // First: the batch's id. Written again (a retry after a lost commit answer), it fails the
  // transaction, and the caller learns the batch is already in (isBatchAlreadyWritten).
  plan.execute(Prisma.sql`INSERT INTO "usage_batches" ("id", "writtenAt") VALUES (${batch.id}, ${new Date()})`);
  // A fold of journal rows deletes them, all or the write rolls back (another process applied some).
  planJournalConsumed(plan, batch.journalIds ?? []);
  // The rest of a fold written in parts, journaled in the same transaction (written next).
  planJournalRows(plan, batch.journalRest ?? []);
  // The window's state first, then the rows of every key the batch writes a window row for
  // (refusals only included; see usage-window.ts, NAME_OF). In this order a roll waiting for the
  // state never waits behind a rename that waits for this batch's key rows.
  planWindowShareLock(db, plan);
  const lock = db.sql.lockApiKeys([...new Set([...keys.map((k) => k.keyId), ...batch.outcomesDaily.map((o) => o.keyId)])]);
  if (lock) plan.execute(lock);
  addKeyCounters(db, plan, keys);
  upsertRollups(plan, 'usage_hourly', batch.hourly);
  upsertRollups(plan, 'usage_daily', batch.daily);
  upsertUsageRollups(plan, batch.daily);
  planWindowDeltas(db, plan, batch.daily, batch.outcomesDaily);
  const newClientAddresses = planVisibility(db, plan, batch);
  try {
    await db.write(plan);
  } catch (error) {
    // A retry of a batch whose earlier write committed unseen: it is in, nothing to add. The
    // addresses that write saw first are read back, so their key.new_ip alerts are still raised.
    if (isBatchAlreadyWritten(error)) return { newClientAddresses: await firstSeenBy(db, batch.clientAddresses), alreadyWritten: true };
    throw error;
  }
  return { newClientAddresses, alreadyWritten: false };
}

/**
 * Whether a usage write failed because its batch id is already stored: a retry of a batch whose
 * earlier write committed although its answer never arrived (the usage is in; nothing to do).
 */
export function isBatchAlreadyWritten(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return text.includes('usage_batches') && /unique|duplicate/i.test(text);
}

/** Deletes batch ids written before `cutoff` (a retry comes within minutes, never a day later). */
export async function deleteUsageBatchesBefore(db: Db, cutoff: Date): Promise<number> {
  const { count } = await db.usageBatch.deleteMany({ where: { writtenAt: { lt: cutoff } } });
  return count;
}

/** What a committed usage write reports: the (key, address) pairs it saw for the first time. */
export interface UsageWriteResult {
  newClientAddresses: NewClientAddress[];
  /** The batch's id was already stored: an earlier send of it committed; this one wrote nothing. */
  alreadyWritten: boolean;
}

/** A ledger ceiling to raise: at least `ceiling` for the period starting `periodStart` (0: a quota without period). */
export interface CeilingRaise {
  keyId: string;
  kind: CounterKind;
  periodStart: number;
  ceiling: number;
}

/**
 * Plans ledger ceilings raised (never lowered; a newer budget or quota period starts over), in one
 * statement per kind of ceiling: on a SQLite thread a prepared single-row statement run per raise
 * (only the values cross to the thread), elsewhere multi-row UPDATEs after the keys' rows are
 * locked in key order (lockApiKeys), so two instances never deadlock. A burst of first-seen keys
 * with budgets raises a ceiling per key; as a statement of its own each, 5,000 raises at 100 a
 * write took the app 2.8-3.2 s of CPU on PostgreSQL, now 1.0-1.2 s (ceiling-raises.ts). Raises of
 * the same key and kind become one, as applying them in turn would leave it: the newest period's
 * highest ceiling (an older period's raise changes nothing once a newer one is in).
 */
export function planCeilingRaises(db: Pick<Database, 'sql'>, plan: WritePlan, raises: readonly CeilingRaise[]): void {
  const merged = new Map<string, CeilingRaise>();
  for (const raise of raises) {
    const id = `${raise.keyId} ${raise.kind} ${raise.periodStart === 0 ? 'total' : 'period'}`;
    const held = merged.get(id);
    if (!held || raise.periodStart > held.periodStart || (raise.periodStart === held.periodStart && raise.ceiling > held.ceiling)) merged.set(id, raise);
  }
  const sorted = [...merged.values()].sort(byKey);
  if (sorted.length === 0) return;
  // One key's row is locked by its UPDATE alone; several are locked first, in key order.
  const keyIds = [...new Set(sorted.map((r) => r.keyId))];
  const lock = keyIds.length > 1 ? db.sql.lockApiKeys(keyIds) : null;
  if (lock) plan.execute(lock);
  const bigint = db.sql.cast('bigint');
  const timestamp = db.sql.cast('timestamp');
  plan.executeRows(
    sorted.filter((r) => r.kind === 'quota' && r.periodStart === 0),
    (r) => [r.keyId, r.ceiling],
    {
      casts: [null, bigint],
      build: (values) => Prisma.sql`WITH v ("id", "ceiling") AS (VALUES ${values})
        UPDATE "api_keys" AS k SET "quotaCeiling" = CASE WHEN k."quotaCeiling" < v."ceiling" THEN v."ceiling" ELSE k."quotaCeiling" END
        FROM v WHERE k."id" = v."id"`,
      sqliteRow: 'UPDATE "api_keys" SET "quotaCeiling" = CASE WHEN "quotaCeiling" < ?2 THEN ?2 ELSE "quotaCeiling" END WHERE "id" = ?1',
    },
  );
  // A daily or monthly quota: the ceiling belongs to its period, and a newer period starts over.
  plan.executeRows(
    sorted.filter((r) => r.kind === 'quota' && r.periodStart !== 0),
    (r) => [r.keyId, plan.time(r.periodStart), r.ceiling],
    {
      casts: [null, timestamp, bigint],
      build: (values) => Prisma.sql`WITH v ("id", "period", "ceiling") AS (VALUES ${values})
        UPDATE "api_keys" AS k SET
          "quotaCeiling" = CASE WHEN k."quotaPeriodStart" = v."period" AND k."quotaCeiling" >= v."ceiling" THEN k."quotaCeiling" ELSE v."ceiling" END,
          "quotaPeriodStart" = v."period"
        FROM v WHERE k."id" = v."id" AND (k."quotaPeriodStart" IS NULL OR k."quotaPeriodStart" <= v."period")`,
      sqliteRow: `UPDATE "api_keys" SET
          "quotaCeiling" = CASE WHEN "quotaPeriodStart" = ?2 AND "quotaCeiling" >= ?3 THEN "quotaCeiling" ELSE ?3 END,
          "quotaPeriodStart" = ?2
        WHERE "id" = ?1 AND ("quotaPeriodStart" IS NULL OR "quotaPeriodStart" <= ?2)`,
    },
  );
  plan.executeRows(
    sorted.filter((r) => r.kind === 'budget'),
    (r) => [r.keyId, plan.time(r.periodStart), r.ceiling],
    {
      casts: [null, timestamp, bigint],
      build: (values) => Prisma.sql`WITH v ("id", "period", "ceiling") AS (VALUES ${values})
        UPDATE "api_keys" AS k SET
          "budgetCeilingMicroCents" = CASE
            WHEN k."budgetPeriodStart" = v."period" AND k."budgetCeilingMicroCents" >= v."ceiling" THEN k."budgetCeilingMicroCents"
            ELSE v."ceiling" END,
          "budgetSpentMicroCents" = CASE WHEN k."budgetPeriodStart" = v."period" THEN k."budgetSpentMicroCents" ELSE 0 END,
          "budgetPeriodStart" = v."period"
        FROM v WHERE k."id" = v."id" AND (k."budgetPeriodStart" IS NULL OR k."budgetPeriodStart" <= v."period")`,
      sqliteRow: `UPDATE "api_keys" SET
          "budgetCeilingMicroCents" = CASE WHEN "budgetPeriodStart" = ?2 AND "budgetCeilingMicroCents" >= ?3 THEN "budgetCeilingMicroCents" ELSE ?3 END,
          "budgetSpentMicroCents" = CASE WHEN "budgetPeriodStart" = ?2 THEN "budgetSpentMicroCents" ELSE 0 END,
          "budgetPeriodStart" = ?2
        WHERE "id" = ?1 AND ("budgetPeriodStart" IS NULL OR "budgetPeriodStart" <= ?2)`,
    },
  );
}

/** Raises one ledger ceiling in a write of its own (the app coalesces raises: see ceiling-raises.ts). */
export async function raiseCeiling(db: Pick<Database, 'write' | 'sql'>, keyId: string, kind: CounterKind, periodStart: number, ceiling: number): Promise<void> {
  const plan = new WritePlan();
  planCeilingRaises(db, plan, [{ keyId, kind, periodStart, ceiling }]);
  await db.write(plan);
}

/**
 * Sets ceilings back to the usage a cleanly stopping process counted: one write whatever the
 * number of keys (a ceiling of each kind, in a statement per kind; on SQLite on the writer thread).
 * Before, a statement per key on the app's thread: about 2 s of a stop at 20,000 cached keys.
 * A ceiling whose period has moved on (a newer period's row) is left alone.
 */
export async function lowerCeilings(
  db: Pick<Database, 'write' | 'sql'>,
  entries: { keyId: string; kind: CounterKind; periodStart: number; ceiling: number }[],
): Promise<void> {
  const sorted = [...entries].sort(byKey);
  const bigint = db.sql.cast('bigint');
  const timestamp = db.sql.cast('timestamp');
  const plan = new WritePlan();
  plan.executeRows(
    sorted.filter((e) => e.kind === 'quota' && e.periodStart === 0),
    (e) => [e.keyId, e.ceiling],
    {
      casts: [null, bigint],
      build: (values) => Prisma.sql`WITH v ("id", "ceiling") AS (VALUES ${values})
        UPDATE "api_keys" AS k SET "quotaCeiling" = v."ceiling" FROM v WHERE k."id" = v."id"`,
      sqliteRow: 'UPDATE "api_keys" SET "quotaCeiling" = ?2 WHERE "id" = ?1',
    },
  );
  plan.executeRows(
    sorted.filter((e) => e.kind === 'quota' && e.periodStart !== 0),
    (e) => [e.keyId, plan.time(e.periodStart), e.ceiling],
    {
      casts: [null, timestamp, bigint],
      build: (values) => Prisma.sql`WITH v ("id", "period", "ceiling") AS (VALUES ${values})
        UPDATE "api_keys" AS k SET "quotaCeiling" = v."ceiling" FROM v WHERE k."id" = v."id" AND k."quotaPeriodStart" = v."period"`,
      sqliteRow: 'UPDATE "api_keys" SET "quotaCeiling" = ?3 WHERE "id" = ?1 AND "quotaPeriodStart" = ?2',
    },
  );
  plan.executeRows(
    sorted.filter((e) => e.kind === 'budget'),
    (e) => [e.keyId, plan.time(e.periodStart), e.ceiling],
    {
      casts: [null, timestamp, bigint],
      build: (values) => Prisma.sql`WITH v ("id", "period", "ceiling") AS (VALUES ${values})
        UPDATE "api_keys" AS k SET "budgetCeilingMicroCents" = v."ceiling" FROM v WHERE k."id" = v."id" AND k."budgetPeriodStart" = v."period"`,
      sqliteRow: 'UPDATE "api_keys" SET "budgetCeilingMicroCents" = ?3 WHERE "id" = ?1 AND "budgetPeriodStart" = ?2',
    },
  );
  await db.write(plan);
}

export interface UsageTotals {
  requestsOk: number;
  requestsFailed: number;
  tokens: number;
  spendMicroCents: number;
}

export interface UsageBucket extends UsageTotals {
  bucketStart: Date;
}

type RollupRow = { bucketStart: Date; requestsOk: bigint; requestsFailed: bigint; tokens: bigint; spendMicroCents: bigint };

function toBucket(row: RollupRow): UsageBucket {
  return {
    bucketStart: row.bucketStart,
    requestsOk: Number(row.requestsOk),
    requestsFailed: Number(row.requestsFailed),
    tokens: Number(row.tokens),
    spendMicroCents: Number(row.spendMicroCents),
  };
}

/** A key's hourly or daily buckets from `from` (inclusive), oldest first. */
export async function keyUsageBuckets(db: Db, keyId: string, granularity: 'hour' | 'day', from: Date): Promise<UsageBucket[]> {
  const query = { where: { keyId, bucketStart: { gte: from } }, orderBy: { bucketStart: 'asc' } } as const;
  const rows: RollupRow[] =
    granularity === 'hour' ? await db.usageHourly.findMany(query) : await db.usageDaily.findMany(query);
  return rows.map(toBucket);
}

/** A tenant's daily totals from `from`, summed over its keys, oldest first. */
export async function tenantDailyUsage(db: Db, tenantId: string, from: Date): Promise<UsageBucket[]> {
  // Read from the per-tenant rollup (one row a day), not summed from the per-key rows.
  return tenantDailyTotals(db, tenantId, from);
}

export async function topKeysByRequests(db: Db, tenantId: string, from: Date, limit: number) {
  const rows = await db.usageDaily.groupBy({
    by: ['keyId'],
    where: { tenantId, bucketStart: { gte: from } },
    _sum: { requestsOk: true, requestsFailed: true, spendMicroCents: true },
    orderBy: { _sum: { requestsOk: 'desc' } },
    take: limit,
  });
  return rows.map((row) => ({
    keyId: row.keyId,
    requests: Number((row._sum.requestsOk ?? 0n) + (row._sum.requestsFailed ?? 0n)),
    spendMicroCents: Number(row._sum.spendMicroCents ?? 0n),
  }));
}


/** Daily buckets of several keys from `from` (inclusive), in one query, by key id. */
export async function keysDailyUsage(db: Db, keyIds: string[], from: Date): Promise<Map<string, UsageBucket[]>> {
  const byKey = new Map<string, UsageBucket[]>(keyIds.map((id) => [id, []]));
  if (keyIds.length === 0) return byKey;
  const rows = await db.usageDaily.findMany({
    where: { keyId: { in: keyIds }, bucketStart: { gte: from } },
    orderBy: { bucketStart: 'asc' },
  });
  for (const row of rows) byKey.get(row.keyId)?.push(toBucket(row));
  return byKey;
}

type SummedRow = { bucketStart?: Date | string; keyId?: string; ok: unknown; failed: unknown; tokens: unknown; spend: unknown };

/** Sums come back as bigint (SQLite) or numeric strings (PostgreSQL). */
const sum = (value: unknown) => Number(value ?? 0);

/** The summed columns of a SummedRow, over usage_daily rows `d`. */
const SUMS = 'SUM(d."requestsOk") AS ok, SUM(d."requestsFailed") AS failed, SUM(d."tokens") AS tokens, SUM(d."spendMicroCents") AS spend';

/** A tenant's daily totals over the keys of one owner, from `from`, oldest first (see owner-rows.ts; off the app's thread on SQLite). */
export async function ownerDailyUsage(db: Database, tenantId: string, ownerId: string, from: Date): Promise<UsageBucket[]> {
  const rows = ownerRowsFrom(db, 'usage_daily', tenantId, ownerId, from);
  const summed = await db.reads.all<SummedRow>(
    `SELECT d."bucketStart" AS "bucketStart", ${SUMS} ${rows.sql} GROUP BY d."bucketStart" ORDER BY d."bucketStart"`,
    rows.params,
  );
  return summed.map((row) => ({
    bucketStart: new Date(row.bucketStart as Date | string),
    requestsOk: sum(row.ok),
    requestsFailed: sum(row.failed),
    tokens: sum(row.tokens),
    spendMicroCents: sum(row.spend),
  }));
}

/** One owner's keys with the most requests since `from` (see owner-rows.ts). */
export async function topKeysOfOwner(db: Database, tenantId: string, ownerId: string, from: Date, limit: number) {
  const rows = ownerRowsFrom(db, 'usage_daily', tenantId, ownerId, from);
  const summed = await db.reads.all<SummedRow>(
    `SELECT d."keyId" AS "keyId", ${SUMS} ${rows.sql}
      GROUP BY d."keyId" ORDER BY SUM(d."requestsOk") + SUM(d."requestsFailed") DESC LIMIT ?`,
    [...rows.params, limit],
  );
  return summed.map((row) => ({ keyId: row.keyId as string, requests: sum(row.ok) + sum(row.failed), spendMicroCents: sum(row.spend) }));
}
