/**
 * The guard's key lookup on a cache miss: the key rows and their tags read through the raw driver
 * (a prepared better-sqlite3 statement, or one node-postgres query), several ids per statement.
 * The same two statements take tens of microseconds here against about a millisecond through the
 * ORM, and a cold key costs one of these. The record is exactly what findKey() (api-keys.ts, through
 * Prisma) returns for the same row: test/integration/key-lookup.test.ts compares both on SQLite and
 * PostgreSQL.
 *
 * Read-only: every write to keys stays in the data layer's Prisma repositories.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { type ApiKeyRecord, type BudgetPeriod, Interner, internedList, type KeyStatus, StringInterner, type Tier, type UsageLimitPeriod } from '@keyward/guard';
import type { DatabaseConfig } from '../../config';
import type { DatabaseTimeouts } from '../dialects/dialect';

/** Reads keys by id, many at once. */
export interface KeyLookup {
  /** The keys among `ids` that exist (any tenant; callers check it), in no particular order. */
  findKeys(ids: readonly string[]): Promise<ApiKeyRecord[]>;
  close(): Promise<void>;
}

/** Most ids bound in one statement (well under SQLite's 32,766 variables). */
export const MAX_IDS_PER_LOOKUP = 500;

/** A key row as the drivers answer it (columns named as in the schema). */
type Row = Record<string, unknown>;

const COLUMNS = [
  'id', 'tenantId', 'ownerId', 'prefix', 'secretHash', 'hashVersion', 'last4', 'previousSecretHash', 'previousHashVersion',
  'previousSecretExpiresAt', 'name', 'description', 'metadata', 'scopes', 'tier', 'rateLimitPerMinute', 'rateLimitPerHour',
  'rateLimitPerDay', 'rateLimitPerMonth', 'allowedIps', 'allowedModels', 'allowedChatbots', 'usageLimit', 'usageLimitPeriod',
  'tokenLimitPerMinute', 'tokenLimitPerDay', 'maxConcurrentRequests', 'notifyOnNewIp', 'budgetLimitCents', 'budgetPeriod',
  'expiresAt', 'status', 'revokedAt', 'requestsOk', 'requestsFailed', 'tokens', 'spendMicroCents', 'budgetPeriodStart',
  'budgetSpentMicroCents', 'budgetCeilingMicroCents', 'quotaCeiling', 'quotaPeriodStart', 'lastUsedAt', 'createdAt', 'updatedAt',
].map((c) => `"${c}"`).join(', ');

/**
 * A stored time as a Date. SQLite holds what @prisma/adapter-better-sqlite3 wrote (ISO 8601 text
 * with +00:00; a column default may hold "YYYY-MM-DD HH:MM:SS" in UTC, or unix milliseconds);
 * PostgreSQL's `timestamp(3)` arrives as UTC text (see the type parser below).
 */
function time(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value));
  const text = String(value);
  return new Date(text.includes('T') ? text : `${text.replace(' ', 'T')}Z`);
}


const int = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const count = (value: unknown): number => Number(value ?? 0);

/**
 * Cached keys hold one shared copy of what they have alike: tenant and owner ids, enumerations,
 * and the lists (scopes, allowlists, tags) as frozen arrays (see Interner). A cache of 200,000
 * keys then holds each distinct list once.
 */
const strings = new StringInterner();
const lists = new Interner<readonly string[]>();
const NO_TAGS: string[] = Object.freeze([]) as unknown as string[];
const shapes = new Interner<object>();

/** A small object of numbers and nulls (limits) as one shared, frozen copy per distinct value. */
function shared<T extends object>(value: T): T {
  return shapes.get(JSON.stringify(value), () => Object.freeze(value)) as T;
}

/** Metadata: an empty object is shared (frozen); any other is the key's own. */
function metadata(value: unknown): Record<string, unknown> {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === '{}' ? (shapes.get(text, () => Object.freeze({})) as Record<string, unknown>) : (JSON.parse(text) as Record<string, unknown>);
}

/** A list column: JSON text (SQLite) or an array node-postgres parsed from jsonb. */
function list(value: unknown): string[] {
  return internedList(lists, typeof value === 'string' ? value : JSON.stringify(value));
}

/** A raw key row and its tags (sorted) as the record findKey() returns. */
export function keyRecordFromRow(row: Row, tags: string[]): ApiKeyRecord {
  return {
    id: row.id as string,
    tenantId: strings.get(row.tenantId as string),
    ownerId: strings.get((row.ownerId as string | null) ?? null),
    prefix: strings.get(row.prefix as string),
    secretHash: row.secretHash as string,
    hashVersion: Number(row.hashVersion),
    last4: row.last4 as string,
    previousSecretHash: (row.previousSecretHash as string | null) ?? null,
    previousHashVersion: int(row.previousHashVersion),
    previousSecretExpiresAt: time(row.previousSecretExpiresAt),
    name: row.name as string,
    description: row.description as string,
    metadata: metadata(row.metadata),
    scopes: list(row.scopes),
    tags: tags.length === 0 ? NO_TAGS : internedList(lists, JSON.stringify(tags)),
    tier: strings.get(row.tier as Tier),
    rateLimits: shared({
      perMinute: int(row.rateLimitPerMinute) as number,
      perHour: int(row.rateLimitPerHour) as number,
      perDay: int(row.rateLimitPerDay) as number,
      perMonth: int(row.rateLimitPerMonth) as number,
    }),
    allowedIps: list(row.allowedIps),
    allowedModels: list(row.allowedModels),
    allowedChatbots: list(row.allowedChatbots),
    usageLimit: int(row.usageLimit),
    usageLimitPeriod: strings.get(row.usageLimitPeriod as UsageLimitPeriod),
    tokenLimits: shared({ perMinute: int(row.tokenLimitPerMinute), perDay: int(row.tokenLimitPerDay) }),
    maxConcurrentRequests: int(row.maxConcurrentRequests),
    notifyOnNewIp: row.notifyOnNewIp === true || row.notifyOnNewIp === 1 || row.notifyOnNewIp === 1n,
    budget:
      row.budgetLimitCents === null
        ? null
        : shared({ limitCents: Number(row.budgetLimitCents), period: ((row.budgetPeriod as string | null) ?? 'total') as BudgetPeriod }),
    expiresAt: time(row.expiresAt),
    status: strings.get(row.status as KeyStatus),
    revokedAt: time(row.revokedAt),
    usage: {
      requestsOk: count(row.requestsOk),
      requestsFailed: count(row.requestsFailed),
      tokens: count(row.tokens),
      spendMicroCents: count(row.spendMicroCents),
      lastUsedAt: time(row.lastUsedAt),
    },
    ledger: {
      budgetPeriodStart: time(row.budgetPeriodStart),
      budgetSpentMicroCents: count(row.budgetSpentMicroCents),
      budgetCeilingMicroCents: count(row.budgetCeilingMicroCents),
      quotaCeiling: count(row.quotaCeiling),
      quotaPeriodStart: time(row.quotaPeriodStart),
    },
    createdAt: time(row.createdAt) as Date,
    updatedAt: time(row.updatedAt) as Date,
  };
}

/** Rows and tag rows as records (tag rows come sorted by tag, as findKey() orders them). */
function records(rows: Row[], tagRows: Row[]): ApiKeyRecord[] {
  const tags = new Map<string, string[]>();
  for (const t of tagRows) {
    const list = tags.get(t.keyId as string);
    if (list) list.push(t.tag as string);
    else tags.set(t.keyId as string, [t.tag as string]);
  }
  return rows.map((row) => keyRecordFromRow(row, tags.get(row.id as string) ?? []));
}

function chunks(ids: readonly string[]): string[][] {
  const unique = [...new Set(ids)];
  const out: string[][] = [];
  for (let i = 0; i < unique.length; i += MAX_IDS_PER_LOOKUP) out.push(unique.slice(i, i + MAX_IDS_PER_LOOKUP));
  return out;
}

/**
 * SQLite: a read-only connection of its own to the app's WAL file (WAL readers never wait for the
 * app's writer), with one prepared statement pair per batch size.
 */
function sqliteLookup(file: string, timeouts: DatabaseTimeouts): KeyLookup {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: timeouts.queryMs });
  db.defaultSafeIntegers(false);
  const statements = new Map<number, { keys: BetterSqlite3.Statement; tags: BetterSqlite3.Statement }>();
  const prepared = (n: number) => {
    let pair = statements.get(n);
    if (!pair) {
      const marks = Array(n).fill('?').join(', ');
      pair = {
        keys: db.prepare(`SELECT ${COLUMNS} FROM "api_keys" WHERE "id" IN (${marks})`),
        tags: db.prepare(`SELECT "keyId", "tag" FROM "api_key_tags" WHERE "keyId" IN (${marks}) ORDER BY "keyId", "tag"`),
      };
      // A few batch sizes recur (1, then whatever a burst held): keep the cache small.
      if (statements.size >= 64) statements.clear();
      statements.set(n, pair);
    }
    return pair;
  };
  return {
    async findKeys(ids) {
      const found: ApiKeyRecord[] = [];
      for (const chunk of chunks(ids)) {
        const { keys, tags } = prepared(chunk.length);
        const rows = keys.all(...chunk) as Row[];
        if (rows.length > 0) found.push(...records(rows, tags.all(...chunk) as Row[]));
      }
      return found;
    },
    async close() {
      db.close();
    },
  };
}

/** node-postgres types for these reads: bigint as a number (counters stay below 2^53), timestamps as UTC. */
const PG_INT8 = 20;
const PG_TIMESTAMP = 1114;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === PG_INT8) return (value: string) => Number(value);
    if (oid === PG_TIMESTAMP) return (value: string) => new Date(`${value.replace(' ', 'T')}Z`);
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

/** PostgreSQL: a small pool of its own with the app's timeouts, and one round trip per batch. */
function postgresLookup(url: string, timeouts: DatabaseTimeouts): KeyLookup {
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.queryMs,
    query_timeout: timeouts.queryMs + 1000,
    keepAlive: true,
    types: pgTypes,
  });
  // A connection the server ends emits 'error'; the pool replaces it on next use (never a crash).
  pool.on('connect', (client) => client.on('error', () => undefined));
  pool.on('error', () => undefined);
  const sql =
    `SELECT k.*, COALESCE((SELECT array_agg(t."tag" ORDER BY t."tag") FROM "api_key_tags" t WHERE t."keyId" = k."id"), '{}') AS "__tags" ` +
    `FROM (SELECT ${COLUMNS} FROM "api_keys" WHERE "id" = ANY($1::text[])) k`;
  return {
    async findKeys(ids) {
      const found: ApiKeyRecord[] = [];
      for (const chunk of chunks(ids)) {
        const { rows } = await pool.query({ name: 'keyward-key-lookup', text: sql, values: [chunk] });
        for (const row of rows as Row[]) found.push(keyRecordFromRow(row, row.__tags as string[]));
      }
      return found;
    },
    async close() {
      await pool.end();
    },
  };
}

/** The raw-driver key lookup for the app's database. */
export function createKeyLookup(config: DatabaseConfig, timeouts: DatabaseTimeouts): KeyLookup {
  if (config.provider === 'sqlite') return sqliteLookup(config.sqlitePath as string, timeouts);
  return postgresLookup(config.url, timeouts);
}
