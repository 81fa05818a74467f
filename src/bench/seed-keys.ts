/**
 * `npm run bench:seed -- --keys 1000000`: a benchmark database with one tenant of many keys, for
 * `npm run bench:pages` (and the cold-key variant of `npm run bench`).
 *
 * SQLite file (default bench-data/keyward-bench.db, or --db FILE; recreated) or DATABASE_URL
 * (PostgreSQL; the database must be empty). The tenant, its owner and one real key come through
 * the app's services; the bulk (keys with varied names, descriptions, tags, owners, statuses,
 * expiries and last-used times; audit events; 30 days of daily usage and outcome rollups) is
 * written with multi-row INSERTs through the raw driver inside transactions, then the overview's
 * rollups are rebuilt from it and the planner statistics refreshed.
 *
 * Options: --keys N (default 1,000,000), --days D of usage (default 30), --used-per-day U keys
 * with usage each day (default 2.5% of the keys, at most 25,000), --audit A events (default keys/5).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { systemActor } from '../audit/audit-types';
import { dayStart } from '@keyward/guard';
import { createContext } from '../context';
import { migrate } from '../data/migrations';
import { openDatabase } from '../data/database';
import { rebuildUsageRollupsSql } from '../data/repositories/usage-rollups';
import { rollUsageWindow } from '../data/repositories/usage-window';
import { createLogger } from '../logger';
import { BENCH_ADMIN, BENCH_TENANT_SLUG, benchConfig, DEFAULT_BENCH_FILE, describeDatabase } from './bench-database';

const DAY_MS = 86_400_000;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const TEAMS = ['billing', 'search', 'ledger', 'growth', 'support', 'mobile', 'web', 'data', 'ml', 'infra', 'payments', 'identity', 'catalog', 'checkout', 'reports', 'alerts'];
const SERVICES = ['worker', 'api', 'cron', 'etl', 'bot', 'gateway', 'sync', 'export', 'import', 'notifier', 'indexer', 'scheduler'];
const ENVS = ['prod', 'staging', 'dev', 'test', 'sandbox'];
const PURPOSES = ['nightly batch jobs', 'the customer portal', 'internal dashboards', 'partner integration', 'load tests', 'the mobile app', 'a chatbot pilot', 'embeddings backfill'];
/** Tag vocabulary: a few common tags and a long tail (team-0..99, customer-0..199). */
const TAGS = ['prod', 'staging', 'dev', 'critical', 'internal', 'external', 'pci', 'beta', ...Array.from({ length: 100 }, (_, i) => `team-${i}`), ...Array.from({ length: 200 }, (_, i) => `customer-${i}`)];
const OUTCOMES_REFUSED = ['rate_limited', 'quota_exceeded', 'model_not_allowed', 'budget_exceeded'];

/** A small, fast, seeded generator (mulberry32): the same seed builds the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function keyId(): string {
  const bytes = randomBytes(12);
  let id = '';
  for (const byte of bytes) id += BASE62[byte % 62];
  return id;
}

type Value = string | number | boolean | null;

/** Bulk inserts through the raw driver, in transactions, for either provider. */
interface BulkWriter {
  /** A time as the provider's column stores it. */
  time(ms: number): Value;
  bool(value: boolean): Value;
  insert(table: string, columns: string[], rows: Value[][]): Promise<void>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

function sqliteWriter(file: string): BulkWriter {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const statements = new Map<string, BetterSqlite3.Statement>();
  const ROWS = 100;
  return {
    time: (ms) => new Date(ms).toISOString().replace('Z', '+00:00'),
    bool: (value) => (value ? 1 : 0),
    async insert(table, columns, rows) {
      const statement = (count: number) => {
        const key = `${table}:${count}`;
        let stmt = statements.get(key);
        if (!stmt) {
          const one = `(${columns.map(() => '?').join(', ')})`;
          stmt = db.prepare(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${Array(count).fill(one).join(', ')}`);
          statements.set(key, stmt);
        }
        return stmt;
      };
      db.transaction(() => {
        for (let i = 0; i < rows.length; i += ROWS) {
          const chunk = rows.slice(i, i + ROWS);
          statement(chunk.length).run(chunk.flat());
        }
      })();
    },
    async exec(sql) {
      db.exec(sql);
    },
    async close() {
      db.close();
    },
  };
}

async function postgresWriter(url: string): Promise<BulkWriter> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  return {
    time: (ms) => new Date(ms).toISOString(),
    bool: (value) => value,
    async insert(table, columns, rows) {
      const per = Math.floor(60_000 / columns.length);
      await client.query('BEGIN');
      try {
        for (let i = 0; i < rows.length; i += per) {
          const chunk = rows.slice(i, i + per);
          const values = chunk.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
          await client.query(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${values.join(', ')}`, chunk.flat());
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    },
    async exec(sql) {
      await client.query(sql);
    },
    async close() {
      await client.end();
    },
  };
}

const KEY_COLUMNS = [
  'id', 'tenantId', 'ownerId', 'prefix', 'secretHash', 'hashVersion', 'last4', 'name', 'description', 'metadata', 'scopes', 'tier',
  'allowedIps', 'allowedModels', 'allowedChatbots', 'usageLimitPeriod', 'status', 'revokedAt', 'expiresAt', 'lastUsedAt',
  'requestsOk', 'tokens', 'createdAt', 'updatedAt',
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      keys: { type: 'string', default: '1000000' },
      days: { type: 'string', default: '30' },
      'used-per-day': { type: 'string' },
      audit: { type: 'string' },
      db: { type: 'string', default: DEFAULT_BENCH_FILE },
    },
  });
  const keyCount = Number(values.keys);
  const days = Number(values.days);
  const usedPerDay = Number(values['used-per-day'] ?? Math.min(25_000, Math.ceil(keyCount * 0.025)));
  const auditCount = Number(values.audit ?? Math.ceil(keyCount / 5));
  if (![keyCount, days, usedPerDay, auditCount].every((n) => Number.isInteger(n) && n >= 0) || keyCount < 1) {
    throw new Error('--keys, --days, --used-per-day and --audit take whole numbers (--keys at least 1)');
  }

  const config = benchConfig(values.db);
  if (config.database.provider === 'sqlite') {
    const file = config.database.sqlitePath as string;
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
    fs.mkdirSync(path.dirname(file), { recursive: true });
  }
  console.log(`seeding ${describeDatabase(config)}: ${keyCount.toLocaleString('en-US')} keys, ${days} days of usage (${usedPerDay.toLocaleString('en-US')} keys a day), ${auditCount.toLocaleString('en-US')} audit events`);
  const started = Date.now();
  const lap = (what: string) => console.log(`  ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);

  await migrate(config.database);
  const ctx = createContext(config, { logger: createLogger('silent') });
  const actor = systemActor('bench-seed');
  if (await ctx.tenants.findBySlug(BENCH_TENANT_SLUG)) {
    await ctx.close();
    throw new Error('this database is seeded already: drop it and create it again (PostgreSQL), or seed another one');
  }
  const tenant = await ctx.tenants.create({ name: 'Bench', slug: BENCH_TENANT_SLUG }, actor);
  const admin = await ctx.users.create({ email: BENCH_ADMIN.email, password: BENCH_ADMIN.password, isPlatformAdmin: true, name: 'Bench admin' }, actor);
  await ctx.users.setMembership(admin.id, tenant.id, 'owner', actor);
  await ctx.close();
  lap('tenant and owner');

  const writer = config.database.provider === 'sqlite' ? sqliteWriter(config.database.sqlitePath as string) : await postgresWriter(config.database.url);
  const random = rng(13);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const now = Date.now();
  const today = Math.floor(now / DAY_MS) * DAY_MS;

  // Key owners: the admin and 20 members (no password: they never sign in).
  const owners = [admin.id];
  const people: Value[][] = [];
  const memberships: Value[][] = [];
  for (let i = 0; i < 20; i++) {
    const id = `benchuser${String(i).padStart(3, '0')}`;
    owners.push(id);
    people.push([id, `member-${i}@keyward.test`, `Member ${i}`, 'disabled', writer.bool(false), writer.bool(false), writer.time(now), writer.time(now)]);
    memberships.push([id, tenant.id, 'member', writer.time(now)]);
  }
  await writer.insert('users', ['id', 'email', 'name', 'passwordHash', 'disabled', 'isPlatformAdmin', 'createdAt', 'updatedAt'], people);
  await writer.insert('memberships', ['userId', 'tenantId', 'role', 'createdAt'], memberships);

  // Keys and tags, 20,000 a transaction.
  const hot: string[] = [];
  const names = new Map<string, string>();
  const BATCH = 20_000;
  const json = (value: unknown) => JSON.stringify(value);
  for (let done = 0; done < keyCount; done += BATCH) {
    const keys: Value[][] = [];
    const tags: Value[][] = [];
    for (let i = done; i < Math.min(keyCount, done + BATCH); i++) {
      const id = keyId();
      const roll = random();
      const status = roll < 0.85 ? 'active' : roll < 0.92 ? 'inactive' : 'revoked';
      // Minutes: many keys share a creation time, as keys created by a script do.
      const createdAt = Math.floor((now - random() * 730 * DAY_MS) / 60_000) * 60_000;
      const expiryRoll = random();
      const expiresAt = expiryRoll < 0.55 ? null : expiryRoll < 0.9 ? now + (1 + random() * 364) * DAY_MS : now - (1 + random() * 200) * DAY_MS;
      const lastUsedAt = random() < 0.45 ? null : now - random() * 60 * DAY_MS;
      const name = `${pick(TEAMS)}-${pick(SERVICES)} ${pick(ENVS)} ${i}`;
      const description = random() < 0.5 ? '' : `Used by ${pick(TEAMS)} for ${pick(PURPOSES)}`;
      if (hot.length < 60_000 && status === 'active') hot.push(id);
      if (names.size < 60_000) names.set(id, name);
      keys.push([
        id, tenant.id, random() < 0.9 ? pick(owners) : null, 'kw', i.toString(16).padStart(64, '0'), 1, BASE62.slice(i % 58, (i % 58) + 4),
        name, description, json(random() < 0.2 ? { costCenter: `cc-${Math.floor(random() * 50)}` } : {}), json(['api']), pick(['free', 'pro', 'enterprise']),
        json([]), json([]), json([]), 'total', status, status === 'revoked' ? writer.time(createdAt + DAY_MS) : null,
        expiresAt === null ? null : writer.time(expiresAt), lastUsedAt === null ? null : writer.time(lastUsedAt),
        lastUsedAt === null ? 0 : Math.floor(random() * 100_000), lastUsedAt === null ? 0 : Math.floor(random() * 10_000_000),
        writer.time(createdAt), writer.time(createdAt),
      ]);
      // Tags: 70% of keys have 1-3; "prod" and friends are common, team and customer tags are a long tail.
      if (random() < 0.7) {
        const chosen = new Set<string>();
        const count = 1 + Math.floor(random() * 3);
        for (let t = 0; t < count; t++) chosen.add(random() < 0.5 ? TAGS[Math.floor(random() * 8)] : pick(TAGS));
        for (const tag of chosen) tags.push([id, tenant.id, tag, tag.toLowerCase()]);
      }
    }
    await writer.insert('api_keys', KEY_COLUMNS, keys);
    await writer.insert('api_key_tags', ['keyId', 'tenantId', 'tag', 'tagLower'], tags);
    if ((done + BATCH) % 200_000 === 0 || done + BATCH >= keyCount) lap(`${Math.min(keyCount, done + BATCH).toLocaleString('en-US')} keys`);
  }

  // Audit events over the last year.
  const AUDIT_COLUMNS = ['id', 'tenantId', 'actorType', 'actorId', 'actorLabel', 'action', 'targetType', 'targetId', 'targetLabel', 'createdAt'];
  const hotNames = [...names.entries()];
  for (let done = 0; done < auditCount; done += BATCH) {
    const rows: Value[][] = [];
    for (let i = done; i < Math.min(auditCount, done + BATCH); i++) {
      const [target, label] = pick(hotNames);
      const at = now - random() * 365 * DAY_MS;
      rows.push([
        `${Math.floor(at).toString(36).padStart(9, '0')}${keyId()}`, tenant.id, 'user', admin.id, BENCH_ADMIN.email,
        pick(['key.create', 'key.update', 'key.update', 'key.revoke', 'key.deactivate', 'key.rotate']), 'api_key', target, label, writer.time(at),
      ]);
    }
    await writer.insert('audit_events', AUDIT_COLUMNS, rows);
  }
  lap(`${auditCount.toLocaleString('en-US')} audit events`);

  // Daily usage and outcomes: each day, usedPerDay distinct keys of the hot set.
  const pool = hot.length;
  const used = Math.min(usedPerDay, pool);
  for (let d = 0; d < days; d++) {
    const day = today - d * DAY_MS;
    const usage: Value[][] = [];
    const outcomes: Value[][] = [];
    const offset = Math.floor(random() * pool);
    for (let j = 0; j < used; j++) {
      const id = hot[(offset + j * 7) % pool];
      const ok = 1 + Math.floor(random() * 500);
      const failed = random() < 0.1 ? Math.floor(random() * 20) : 0;
      usage.push([id, writer.time(day), tenant.id, ok, failed, ok * 300, ok * 150]);
      outcomes.push([id, writer.time(day), 'ok', tenant.id, ok]);
      if (failed > 0) outcomes.push([id, writer.time(day), 'failed', tenant.id, failed]);
      if (random() < 0.1) outcomes.push([id, writer.time(day), pick(OUTCOMES_REFUSED), tenant.id, 1 + Math.floor(random() * 50)]);
    }
    await writer.insert('usage_daily', ['keyId', 'bucketStart', 'tenantId', 'requestsOk', 'requestsFailed', 'tokens', 'spendMicroCents'], usage);
    await writer.insert('usage_outcomes_daily', ['keyId', 'bucketStart', 'outcome', 'tenantId', 'requests'], outcomes);
  }
  lap(`${(days * used).toLocaleString('en-US')} daily usage rows`);

  for (const statement of rebuildUsageRollupsSql(config.database.provider)) await writer.exec(statement);
  lap('rollups rebuilt');
  const database = openDatabase(config.database, { timeouts: config.databaseTimeouts });
  await rollUsageWindow(database, dayStart(Date.now()));
  await database.close();
  lap('window of the last 30 days built');
  await writer.exec(config.database.provider === 'sqlite' ? 'ANALYZE' : 'VACUUM ANALYZE');
  await writer.close();
  lap('statistics refreshed; done');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
