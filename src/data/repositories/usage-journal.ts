/**
 * The usage journal's rows (see src/usage/usage-journal.ts): batches appended durably, folded
 * later in one write that deletes them. Exactly-once rests on one statement: the fold's DELETE of
 * the rows it applies must delete all of them (WritePlan.executeExpecting), else its transaction
 * rolls back. Leases only say whose rows are whose while a process runs; they never decide
 * correctness, so clocks that disagree across instances cost at most a needless takeover.
 */
import { Prisma } from '../../generated/postgresql/client';
import type { RequestLogRow } from '../../usage/usage-batch';
import type { Db } from '../client-types';
import type { Database } from '../database';
import { WritePlan } from '../write-plan';
import { isUnexpectedChanges } from '../errors';
import { moveStagedRequestLog, stageRequestLog } from './visibility-writes';

type SqlDatabase = Pick<Database, 'write' | 'sql' | 'reads'>;

/** One journal row as read back: the batch id and its payload (usageBatchToJournal). */
export interface JournalRow {
  id: string;
  payload: string;
}

/** What one append writes. */
export interface JournalAppend {
  /** The batch's id: also written to usage_batches, so an append sent again after a lost commit answer is recognised. */
  id: string;
  owner: string;
  payload: string;
  /**
   * Staged in the same transaction (the log is not folded: it is per request and only grows), and
   * moved into request_log by the write that consumes the journal row (planJournalConsumed).
   */
  requestLog: RequestLogRow[];
  /** The owner's lease, moved to this time (ms). */
  leaseUntil: number;
}

/** Plans the owner's lease moved to `until` (ms), never back. */
function planLease(plan: WritePlan, owner: string, until: number): void {
  const expiresAt = new Date(until);
  plan.execute(Prisma.sql`INSERT INTO "usage_journal_leases" ("owner", "expiresAt") VALUES (${owner}, ${expiresAt})
    ON CONFLICT ("owner") DO UPDATE SET "expiresAt" = CASE
      WHEN "usage_journal_leases"."expiresAt" < excluded."expiresAt" THEN excluded."expiresAt" ELSE "usage_journal_leases"."expiresAt" END`);
}

/**
 * Appends a batch in one transaction: its id (usage_batches: a second append of the same batch
 * fails as a usage write sent again does, see isBatchAlreadyWritten), its journal row, its
 * request-log rows (staged: see stageRequestLog), and the owner's lease.
 */
export async function appendToJournal(db: SqlDatabase, entry: JournalAppend): Promise<void> {
  const plan = new WritePlan();
  const now = new Date();
  plan.execute(Prisma.sql`INSERT INTO "usage_batches" ("id", "writtenAt") VALUES (${entry.id}, ${now})`);
  planJournalRows(plan, [entry]);
  planLease(plan, entry.owner, entry.leaseUntil);
  stageRequestLog(db, plan, entry.id, entry.requestLog);
  await db.write(plan);
}

/**
 * Plans the DELETE of journal rows a write applies: it must delete every one of them, else the
 * write rolls back (another process applied some first; see isUnexpectedChanges). Their staged
 * request-log rows move into request_log in the same write, once the DELETE has claimed them.
 */
export function planJournalConsumed(plan: WritePlan, ids: readonly string[]): void {
  if (ids.length === 0) return;
  plan.executeExpecting(Prisma.sql`DELETE FROM "usage_journal" WHERE "id" IN (${Prisma.join(ids)})`, ids.length);
  moveStagedRequestLog(plan, ids);
}

/** Plans journal rows appended (a batch, or the rest of a fold written in parts: see usage-journal.ts). */
export function planJournalRows(plan: WritePlan, rows: readonly { id: string; owner: string; payload: string }[]): void {
  const now = new Date();
  for (const row of rows) {
    plan.execute(Prisma.sql`INSERT INTO "usage_journal" ("id", "owner", "writtenAt", "payload") VALUES (${row.id}, ${row.owner}, ${now}, ${row.payload})`);
  }
}

/** Journal rows whose strays one sweep moves at most (a statement's list of ids stays short). */
const STRAY_BATCHES = 100;

/** Staged request-log rows of one journal row that is gone, and how many. */
export interface StrayStagedBatch {
  batchId: string;
  rows: number;
}

/**
 * Journal rows that are gone while request-log rows of theirs are still staged: rows a process of
 * an earlier version consumed without moving them (one that wrote the log at append: a rolling
 * upgrade, or its takeover of a newer process's rows). At most STRAY_BATCHES.
 */
export async function strayStagedBatches(db: Pick<Database, 'reads'>): Promise<StrayStagedBatch[]> {
  const strays = await db.reads.all<{ batchId: string; rows: number | bigint | string }>(
    `SELECT "batchId", "rows" FROM (SELECT "batchId", COUNT(*) AS "rows" FROM "request_log_staged" GROUP BY "batchId") AS "staged"
      WHERE NOT EXISTS (SELECT 1 FROM "usage_journal" j WHERE j."id" = "staged"."batchId") LIMIT ?`,
    [STRAY_BATCHES],
  );
  return strays.map((stray) => ({ batchId: stray.batchId, rows: Number(stray.rows) }));
}

/**
 * Moves the staged rows of `strays` into request_log; returns how many, or 0 when another process
 * moved some first (its DELETE must delete every row counted, else the write rolls back, so two
 * processes sweeping at once move each row once). A batch found gone stays gone, so no fold moves
 * its rows meanwhile.
 */
export async function moveStrayStaged(db: Pick<Database, 'write'>, strays: readonly StrayStagedBatch[]): Promise<number> {
  if (strays.length === 0) return 0;
  const rows = strays.reduce((sum, stray) => sum + stray.rows, 0);
  const plan = new WritePlan();
  moveStagedRequestLog(plan, strays.map((stray) => stray.batchId), rows);
  try {
    await db.write(plan);
  } catch (error) {
    if (isUnexpectedChanges(error)) return 0;
    throw error;
  }
  return rows;
}

/** Finds stray staged request-log rows and moves them (strayStagedBatches, moveStrayStaged); returns how many. */
export async function moveStrayStagedRequestLog(db: Pick<Database, 'reads' | 'write'>): Promise<number> {
  return moveStrayStaged(db, await strayStagedBatches(db));
}

/** Deletes journal rows in a write of their own, all of them or none (isUnexpectedChanges). */
export async function consumeJournal(db: Pick<Database, 'write'>, ids: readonly string[]): Promise<void> {
  const plan = new WritePlan();
  planJournalConsumed(plan, ids);
  await db.write(plan);
}

/** Those of `ids` still in the journal, with their payloads (off the app's thread on SQLite). */
export async function journalRows(db: Pick<Database, 'reads'>, ids: readonly string[]): Promise<JournalRow[]> {
  if (ids.length === 0) return [];
  const marks = ids.map(() => '?').join(', ');
  return db.reads.all<{ id: string; payload: string }>(`SELECT "id", "payload" FROM "usage_journal" WHERE "id" IN (${marks}) ORDER BY "id"`, ids);
}

/**
 * Rows of other owners whose lease has lapsed by `now` (or who have none), at most `limit`, oldest
 * first.
 */
export async function orphanedJournalRows(db: Pick<Database, 'reads'>, owner: string, now: number, limit: number): Promise<JournalRow[]> {
  return db.reads.all<{ id: string; payload: string }>(
    `SELECT j."id", j."payload" FROM "usage_journal" j
      LEFT JOIN "usage_journal_leases" l ON l."owner" = j."owner"
      WHERE j."owner" <> ? AND (l."expiresAt" IS NULL OR l."expiresAt" < ?)
      ORDER BY j."writtenAt", j."id" LIMIT ?`,
    [owner, db.reads.time(new Date(now)), limit],
  );
}

/** Moves the owner's lease to `until` (ms). */
export async function renewJournalLease(db: Pick<Database, 'write'>, owner: string, until: number): Promise<void> {
  const plan = new WritePlan();
  planLease(plan, owner, until);
  await db.write(plan);
}

/** Ends the owner's lease (a clean stop: its rows, if any were left, may be taken over at once). */
export async function releaseJournalLease(db: Db, owner: string): Promise<void> {
  await db.usageJournalLease.deleteMany({ where: { owner } });
}

/** Deletes leases lapsed before `cutoff` (retention: rows left by their owner are orphans either way). */
export async function deleteLapsedJournalLeases(db: Db, cutoff: Date): Promise<number> {
  const { count } = await db.usageJournalLease.deleteMany({ where: { expiresAt: { lt: cutoff } } });
  return count;
}
