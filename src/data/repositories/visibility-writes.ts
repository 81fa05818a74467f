/**
 * The visibility part of a usage batch, written inside the batch's transaction: outcome rollups,
 * model spend, request-log rows, client addresses, unknown-key attempts. Rows of one shape go
 * together (WritePlan.executeRows: through the client, multi-row statements of 400 rows, the
 * request log 1,000 rows from one JSON parameter; on a SQLite writer thread, one prepared
 * statement run per row), never a statement per request. Every counter is an atomic increment
 * (INSERT ... ON CONFLICT DO UPDATE), valid SQL on SQLite and PostgreSQL. Upserted rows are sent in one order (by their
 * primary key) so two processes writing at once lock them in the same order and never deadlock.
 */
import { Prisma } from '../../generated/postgresql/client';
import type { ClientAddressDelta, ModelDelta, OutcomeDelta, RequestLogRow, UnknownKeyDelta, VisibilityBatch } from '../../usage/usage-batch';
import type { WritePlan } from '../write-plan';
import type { Database } from '../database';
import type { JsonColumnType } from '../dialects/dialect';
import { chunks, compareText } from './batching';
import { upsertTenantOutcomes } from './usage-rollups';

/**
 * Request-log rows per statement through the client (one JSON parameter, about 250 bytes a row):
 * bounds the size of one parameter and how long one statement holds its connection.
 */
const LOG_CHUNK = 1000;

const LOG_COLUMNS: [string, JsonColumnType][] = [
  ['keyId', 'text'],
  ['tenantId', 'text'],
  ['at', 'timestamp'],
  ['outcome', 'text'],
  ['status', 'integer'],
  ['ip', 'text'],
  ['model', 'text'],
  ['chatbot', 'text'],
  ['tokens', 'bigint'],
  ['costMicroCents', 'bigint'],
  ['latencyMs', 'integer'],
  ['requestId', 'text'],
  ['userAgent', 'text'],
];
const LOG_COLUMN_LIST = LOG_COLUMNS.map(([name]) => `"${name}"`).join(', ');
const LOG_INSERT = Prisma.raw(`INSERT INTO "request_log" (${LOG_COLUMN_LIST})`);
const LOG_TYPES = LOG_COLUMNS.map(([, type]) => type);
const STAGED_INSERT = Prisma.raw(`INSERT INTO "request_log_staged" ("batchId", ${LOG_COLUMN_LIST})`);
const STAGED_TYPES: JsonColumnType[] = ['text', ...LOG_TYPES];
/** Staged rows moved in key order, so that rows of one key land on the same index pages (see stageRequestLog). */
const STAGED_MOVE = Prisma.raw(`INSERT INTO "request_log" (${LOG_COLUMN_LIST}) SELECT ${LOG_COLUMN_LIST} FROM "request_log_staged"`);

function upsertOutcomes(plan: WritePlan, table: 'usage_outcomes_hourly' | 'usage_outcomes_daily', rows: OutcomeDelta[]): void {
  const name = Prisma.raw(`"${table}"`); // one of two constants, never input
  const sorted = [...rows].sort(
    (a, b) => compareText(a.keyId, b.keyId) || a.bucketStart - b.bucketStart || compareText(a.outcome, b.outcome),
  );
  plan.executeRows(
    sorted,
    (r) => [r.keyId, plan.time(r.bucketStart), r.outcome, r.tenantId, r.requests],
    {
      build: (values) => Prisma.sql`INSERT INTO ${name} ("keyId", "bucketStart", "outcome", "tenantId", "requests")
       VALUES ${values}
       ON CONFLICT ("keyId", "bucketStart", "outcome") DO UPDATE SET "requests" = ${name}."requests" + excluded."requests"`,
    },
  );
}

function upsertModels(plan: WritePlan, rows: ModelDelta[]): void {
  const sorted = [...rows].sort(
    (a, b) =>
      compareText(a.keyId, b.keyId) || a.bucketStart - b.bucketStart || compareText(a.model, b.model) || compareText(a.outcome, b.outcome),
  );
  plan.executeRows(
    sorted,
    (r) => [r.keyId, plan.time(r.bucketStart), r.model, r.outcome, r.tenantId, r.requests, r.tokens, r.spendMicroCents],
    {
      build: (values) => Prisma.sql`INSERT INTO "usage_models_daily" ("keyId", "bucketStart", "model", "outcome", "tenantId", "requests", "tokens", "spendMicroCents")
       VALUES ${values}
       ON CONFLICT ("keyId", "bucketStart", "model", "outcome") DO UPDATE SET
         "requests" = "usage_models_daily"."requests" + excluded."requests",
         "tokens" = "usage_models_daily"."tokens" + excluded."tokens",
         "spendMicroCents" = "usage_models_daily"."spendMicroCents" + excluded."spendMicroCents"`,
    },
  );
}

/** A request-log row's values in LOG_COLUMNS order, with its time as given. */
function logValues(r: RequestLogRow, at: number | Date): unknown[] {
  return [r.keyId, r.tenantId, at, r.outcome, r.status, r.ip, r.model, r.chatbot, r.tokens, r.costMicroCents, r.latencyMs, r.requestId, r.userAgent];
}

/** Plans a batch's request-log rows into request_log, each row's index entry placed as it comes. */
export function insertRequestLog(db: SqlDatabase, plan: WritePlan, rows: RequestLogRow[]): void {
  planLogRows(db, plan, rows, LOG_INSERT, LOG_TYPES, (r, at) => logValues(r, at));
}

/**
 * Plans a journaled batch's request-log rows into request_log_staged, where they wait for the fold
 * that applies the batch (moveStagedRequestLog). Under many distinct keys a row inserted into
 * request_log's (keyId, at, id) index writes an index page of its own (measured with 20,000 keys
 * in turn: 10 µs of the writer's CPU a row at 300,000 logged rows, 26 µs at 3,000,000); staged
 * rows are only appended, and moved a fold at a time in key order they share pages.
 */
export function stageRequestLog(db: SqlDatabase, plan: WritePlan, batchId: string, rows: RequestLogRow[]): void {
  planLogRows(db, plan, rows, STAGED_INSERT, STAGED_TYPES, (r, at) => [batchId, ...logValues(r, at)]);
}

/**
 * Plans the staged request-log rows of the journal rows `batchIds` moved into request_log, sorted
 * by (keyId, at, staged order), and deleted from the stage: in the transaction that consumes those
 * journal rows, so a row is moved exactly when its batch is applied. With `expected`, the DELETE
 * must delete that many rows, else the write rolls back (isUnexpectedChanges: another process
 * moved them first). A fold's move assigns ids in key order: ids follow time only up to the fold
 * interval (retention deletes by id: see deleteRequestLogBefore).
 */
export function moveStagedRequestLog(plan: WritePlan, batchIds: readonly string[], expected?: number): void {
  if (batchIds.length === 0) return;
  const ids = Prisma.join(batchIds);
  plan.execute(Prisma.sql`${STAGED_MOVE} WHERE "batchId" IN (${ids}) ORDER BY "keyId", "at", "id"`);
  const remove = Prisma.sql`DELETE FROM "request_log_staged" WHERE "batchId" IN (${ids})`;
  if (expected === undefined) plan.execute(remove);
  else plan.executeExpecting(remove, expected);
}

function planLogRows(
  db: SqlDatabase,
  plan: WritePlan,
  rows: RequestLogRow[],
  insert: Prisma.Sql,
  types: readonly JsonColumnType[],
  values: (r: RequestLogRow, at: number | Date) => unknown[],
): void {
  // Oldest first, so ids mostly follow time (the cursor orders by time, then id).
  const sorted = [...rows].sort((a, b) => a.at - b.at);
  plan.executeRows(
    sorted,
    (r) => values(r, new Date(r.at)),
    {
      build: (sqlValues) => Prisma.sql`${insert} VALUES ${sqlValues}`,
      // Through the client: LOG_CHUNK rows a statement, read from one JSON parameter (times in ms).
      chunked: () => chunks(sorted, LOG_CHUNK).map((chunk) => Prisma.sql`${insert} ${db.sql.jsonRows(chunk.map((r) => values(r, r.at)), types)}`),
    },
  );
}

/** A (key, address) pair the batch wrote for the first time (for key.new_ip alerts). */
export type NewClientAddress = Pick<ClientAddressDelta, 'keyId' | 'tenantId' | 'ip'>;

/**
 * Upserts client addresses and returns the pairs that were new. RETURNING reports the row after
 * the statement: a pair was inserted (not updated) exactly when its count equals this batch's
 * count, so detecting new addresses costs no extra statement (same SQL on SQLite and PostgreSQL).
 * Pairs that keep their stored lastSeenAt (keepLastSeen) go in a statement that does not set it:
 * SQLite moves a column's index entries whenever the column is set, even to its own value. Two
 * statements lock these rows in two passes; a batch has already locked its keys' api_keys rows
 * (lockApiKeys), so two batches with a key in common never reach them at once.
 */
function upsertClientAddresses(plan: WritePlan, rows: ClientAddressDelta[]): NewClientAddress[] {
  const sorted = [...rows].sort((a, b) => compareText(a.keyId, b.keyId) || compareText(a.ip, b.ip));
  const fresh: NewClientAddress[] = [];
  type Written = { keyId: string; ip: string; requests: bigint | number };
  const sent = new Map(sorted.map((r) => [`${r.keyId} ${r.ip}`, r]));
  const read = (written: Written[]) => {
    for (const row of written) {
      const delta = sent.get(`${row.keyId} ${row.ip}`);
      if (delta && BigInt(row.requests) === BigInt(delta.requests)) fresh.push({ keyId: delta.keyId, tenantId: delta.tenantId, ip: delta.ip });
    }
  };
  for (const keep of [false, true]) {
    const group = sorted.filter((r) => (r.keepLastSeen === true) === keep);
    if (group.length === 0) continue;
    // CASE rather than LEAST/GREATEST (PostgreSQL) or MIN/MAX (SQLite): the same SQL on both.
    const lastSeen = keep ? '' : `"lastSeenAt" = CASE WHEN excluded."lastSeenAt" > t."lastSeenAt" THEN excluded."lastSeenAt" ELSE t."lastSeenAt" END,`;
    plan.queryRows<ClientAddressDelta, Written>(
      group,
      (r) => [r.keyId, r.ip, r.tenantId, plan.time(r.firstSeenAt), plan.time(r.lastSeenAt), r.requests],
      {
        build: (values) => Prisma.sql`INSERT INTO "key_client_addresses" AS t ("keyId", "ip", "tenantId", "firstSeenAt", "lastSeenAt", "requests")
         VALUES ${values}
         ON CONFLICT ("keyId", "ip") DO UPDATE SET
           "firstSeenAt" = CASE WHEN excluded."firstSeenAt" < t."firstSeenAt" THEN excluded."firstSeenAt" ELSE t."firstSeenAt" END,
           ${Prisma.raw(lastSeen)}
           "requests" = t."requests" + excluded."requests"
         RETURNING "keyId", "ip", "requests"`,
      },
      read,
    );
  }
  // Filled once the plan has committed.
  return fresh;
}

function upsertUnknownKeys(plan: WritePlan, rows: UnknownKeyDelta[]): void {
  const sorted = [...rows].sort((a, b) => a.bucketStart - b.bucketStart || compareText(a.ip, b.ip));
  plan.executeRows(
    sorted,
    (r) => [plan.time(r.bucketStart), r.ip, r.attempts, r.blockedAttempts, plan.time(r.lastSeenAt)],
    {
      build: (values) => Prisma.sql`INSERT INTO "unknown_key_attempts" AS t ("bucketStart", "ip", "attempts", "blockedAttempts", "lastSeenAt")
       VALUES ${values}
       ON CONFLICT ("bucketStart", "ip") DO UPDATE SET
         "attempts" = t."attempts" + excluded."attempts",
         "blockedAttempts" = t."blockedAttempts" + excluded."blockedAttempts",
         "lastSeenAt" = CASE WHEN excluded."lastSeenAt" > t."lastSeenAt" THEN excluded."lastSeenAt" ELSE t."lastSeenAt" END`,
    },
  );
}

type SqlDatabase = Pick<Database, 'sql'>;

/**
 * The pairs of `sent` that a batch committed earlier (unseen: its commit answer was lost) wrote
 * for the first time. The stored firstSeenAt only moves back, so a pair whose stored firstSeenAt
 * is still the batch's own was first written by that batch; a pair seen before keeps an earlier
 * time. Read by primary key, 400 pairs a statement (a retry is rare; this runs only then).
 */
export async function firstSeenBy(db: Pick<Database, 'prisma'>, sent: readonly ClientAddressDelta[]): Promise<NewClientAddress[]> {
  const fresh: NewClientAddress[] = [];
  for (const chunk of chunks(sent)) {
    const stored = await db.prisma.keyClientAddress.findMany({
      where: { OR: chunk.map((r) => ({ keyId: r.keyId, ip: r.ip })) },
      select: { keyId: true, ip: true, firstSeenAt: true },
    });
    const firstSeen = new Map(stored.map((row) => [`${row.keyId} ${row.ip}`, row.firstSeenAt.getTime()]));
    for (const r of chunk) {
      if (firstSeen.get(`${r.keyId} ${r.ip}`) === r.firstSeenAt) fresh.push({ keyId: r.keyId, tenantId: r.tenantId, ip: r.ip });
    }
  }
  return fresh;
}

/**
 * Plans the visibility part of a batch into the batch's plan. Returns the list the client
 * addresses first seen in this batch are added to once the plan has committed (alerts are raised
 * from them).
 */
export function planVisibility(db: SqlDatabase, plan: WritePlan, batch: VisibilityBatch): NewClientAddress[] {
  upsertOutcomes(plan, 'usage_outcomes_hourly', batch.outcomesHourly);
  upsertOutcomes(plan, 'usage_outcomes_daily', batch.outcomesDaily);
  upsertTenantOutcomes(plan, batch.outcomesDaily);
  upsertModels(plan, batch.models);
  const fresh = upsertClientAddresses(plan, batch.clientAddresses);
  upsertUnknownKeys(plan, batch.unknownKeys);
  insertRequestLog(db, plan, batch.requestLog);
  return fresh;
}
