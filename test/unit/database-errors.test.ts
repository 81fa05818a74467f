/**
 * isDatabaseUnavailable() on error objects produced for real, not written by hand: a SQLite file
 * locked by another connection, and (with TEST_DATABASE_URL) PostgreSQL backends terminated, a
 * statement timeout, a refused port, a silent network (a proxy that stops forwarding). Errors that
 * are not about availability (constraint violations, bad queries, a missing database) stay false,
 * and the app's error handler answers 503 only for the first kind. databaseRefusalReason() names
 * the errors a database gives for the data a statement carries (the same statement fails again).
 */
import express from 'express';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import request from 'supertest';
import { type Database, openDatabase } from '../../src/data/database';
import { Prisma } from '../../src/generated/postgresql/client';
import { databaseRefusalReason, databaseUnavailableReason, isDatabaseUnavailable, isUniqueViolation } from '../../src/data/errors';
import { WritePlan } from '../../src/data/write-plan';
import { migrate } from '../../src/data/migrations';
import { errorHandler } from '../../src/http/error-handler';
import { createLogger } from '../../src/logger';
import { createPostgresDatabase, createSqliteDatabase, describePostgres, postgresAdminUrl, type TestDatabase } from '../helpers/databases';
import { startTcpProxy } from '../helpers/tcp-proxy';

const rejection = async (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

const tenant = (id: string) => ({ data: { id, name: id, slug: id } });

/** Answers each request by throwing `error`, through the app's error handler. */
function appThrowing(error: unknown) {
  const app = express();
  app.get('/api/thing', () => {
    throw error;
  });
  app.use(errorHandler({ logger: createLogger('silent') }));
  return app;
}

describe('isDatabaseUnavailable on SQLite', () => {
  let db: TestDatabase;
  let database: Database;
  let holder: BetterSqlite3.Database;

  beforeAll(async () => {
    db = await createSqliteDatabase();
    await migrate(db.config);
    database = openDatabase(db.config, { timeouts: { connectMs: 200, queryMs: 200 } });
    await database.prisma.tenant.create(tenant('taken'));
    holder = new BetterSqlite3(db.config.sqlitePath as string);
  });

  afterAll(async () => {
    if (holder.inTransaction) holder.exec('ROLLBACK');
    holder.close();
    await database.close();
    await db.drop();
  });

  it('is true for writes refused because another connection holds the lock past the busy timeout', async () => {
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const started = Date.now();
      const model = await rejection(database.prisma.tenant.create(tenant('a')));
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      const raw = await rejection(database.prisma.$executeRawUnsafe(`UPDATE "tenants" SET "name" = 'x'`));
      const inTransaction = await rejection(database.transaction((tx) => tx.tenant.create(tenant('b'))));
      // As Prisma reports them: P1008 (model queries) and P2010 (raw), the cause SQLITE_BUSY. A
      // transaction takes the write lock first, with a raw statement (see beginTransaction).
      expect([model, raw, inTransaction].map((e) => (e as { code: string }).code)).toEqual(['P1008', 'P2010', 'P2010']);
      for (const error of [model, raw, inTransaction]) {
        expect(isDatabaseUnavailable(error)).toBe(true);
        expect(databaseUnavailableReason(error)).toBe('SQLITE_BUSY');
      }
    } finally {
      holder.exec('ROLLBACK');
    }
    // better-sqlite3's own error, as a second connection sees it.
    const other = new BetterSqlite3(db.config.sqlitePath as string, { timeout: 0 });
    holder.exec('BEGIN EXCLUSIVE');
    try {
      let direct: unknown;
      try {
        other.exec('BEGIN EXCLUSIVE');
      } catch (error) {
        direct = error;
      }
      expect(direct).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(isDatabaseUnavailable(direct)).toBe(true);
    } finally {
      holder.exec('ROLLBACK');
      other.close();
    }
  });

  it('is false for errors the request caused: a unique violation, invalid input, a missing record, a bad query', async () => {
    const unique = await rejection(database.prisma.tenant.create(tenant('taken')));
    expect(isUniqueViolation(unique)).toBe(true);
    const invalid = await rejection(database.prisma.tenant.create({ data: { name: 'no id' } } as never));
    const missing = await rejection(database.prisma.tenant.update({ where: { id: 'nobody' }, data: { name: 'x' } }));
    const badQuery = await rejection(database.prisma.$queryRawUnsafe('SELECT * FROM "no_such_table"'));
    for (const error of [unique, invalid, missing, badQuery, new Error('boom'), null, undefined, 'text', { code: 'P2002' }]) {
      expect(isDatabaseUnavailable(error)).toBe(false);
    }
  });

  it('databaseRefusalReason names a refusal for the data, through Prisma and through the writer thread, and nothing else', async () => {
    const throughPrisma = await rejection(database.prisma.$executeRawUnsafe('UPDATE "tenants" SET "name" = NULL'));
    const plan = new WritePlan();
    plan.execute(Prisma.sql`UPDATE "tenants" SET "name" = ${null}`);
    const throughThread = await rejection(database.write(plan));
    const unique = await rejection(database.prisma.tenant.create(tenant('taken')));
    expect([throughPrisma, throughThread].map(databaseRefusalReason)).toEqual(['SQLITE_CONSTRAINT_NOTNULL', 'SQLITE_CONSTRAINT_NOTNULL']);
    expect(databaseRefusalReason(unique)).toMatch(/^SQLITE_CONSTRAINT/);
    const missing = await rejection(database.prisma.tenant.update({ where: { id: 'nobody' }, data: { name: 'x' } }));
    const badQuery = await rejection(database.prisma.$queryRawUnsafe('SELECT * FROM "no_such_table"'));
    for (const error of [missing, badQuery, new Error('boom'), null, undefined, 'text', { code: 'P2002' }, { code: 'SQLITE_BUSY' }]) {
      expect(databaseRefusalReason(error)).toBeNull();
    }
  });

  it('makes the error handler answer 503 database_unavailable with Retry-After, and 500 for anything else', async () => {
    holder.exec('BEGIN EXCLUSIVE');
    let busy: unknown;
    try {
      busy = await rejection(database.prisma.tenant.create(tenant('c')));
    } finally {
      holder.exec('ROLLBACK');
    }
    const res = await request(appThrowing(busy)).get('/api/thing');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toMatch(/^[12]$/);
    expect(res.body).toEqual({
      error: { code: 'database_unavailable', type: 'server_error', message: 'The database does not answer. Retry shortly.' },
    });
    const other = await request(appThrowing(await rejection(database.prisma.$queryRawUnsafe('SELECT * FROM "no_such_table"')))).get('/api/thing');
    expect(other.status).toBe(500);
    expect(other.body.error.code).toBe('internal_error');
  });
});

describePostgres('isDatabaseUnavailable on PostgreSQL', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  const timeouts = { connectMs: 500, queryMs: 500 };

  /** Ends every connection to the test database, except `sparePid`'s. */
  const terminateBackends = (sparePid = 0) =>
    admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND pid <> $2', [
      new URL(db.config.url).pathname.slice(1),
      sparePid,
    ]);

  /** A database handle through a proxy that can go silent. */
  async function throughProxy() {
    const proxy = await startTcpProxy(Number(new URL(db.config.url).port || 5432), new URL(db.config.url).hostname);
    const url = new URL(db.config.url);
    url.port = String(proxy.port);
    const database = openDatabase({ provider: 'postgresql', url: url.toString() }, { timeouts });
    return { proxy, database };
  }

  beforeAll(async () => {
    db = await createPostgresDatabase();
    await migrate(db.config);
    admin = new pg.Client({ connectionString: postgresAdminUrl });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  it('is true when the server ends the connection under a query (57P01), raw or through a model', async () => {
    const database = openDatabase(db.config, { timeouts: { connectMs: 2000, queryMs: 5000 } });
    try {
      await database.ping();
      const raw = rejection(database.prisma.$queryRawUnsafe('SELECT pg_sleep(3)'));
      const inTransaction = rejection(
        database.transaction(async (tx) => {
          await tx.$queryRawUnsafe('SELECT pg_sleep(3)');
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await terminateBackends();
      for (const error of [await raw, await inTransaction]) {
        expect(error).toMatchObject({ code: 'P2010' });
        expect(databaseUnavailableReason(error)).toBe('57P01');
      }
      // A model query, held by a lock while its connection is ended.
      const locker = new pg.Client({ connectionString: db.config.url });
      await locker.connect();
      try {
        await locker.query('BEGIN; LOCK TABLE "api_keys" IN ACCESS EXCLUSIVE MODE');
        const model = rejection(database.prisma.apiKey.findMany({ where: { name: { contains: 'x' } } }));
        await new Promise((resolve) => setTimeout(resolve, 300));
        await terminateBackends((locker as unknown as { processID: number }).processID);
        const error = await model;
        expect(error).toMatchObject({ code: 'P2039' });
        expect(databaseUnavailableReason(error)).toBe('57P01');
      } finally {
        await locker.end();
      }
      // The pool replaced the ended connections.
      await database.ping();
    } finally {
      await database.close();
    }
  });

  it('is true for a statement cancelled by statement_timeout (57014)', async () => {
    const database = openDatabase(db.config, { timeouts });
    try {
      const error = await rejection(database.prisma.$queryRawUnsafe('SELECT pg_sleep(2)'));
      expect(databaseUnavailableReason(error)).toBe('57014');
    } finally {
      await database.close();
    }
  });

  it('is true for a refused connection, as a query (P2010) and as a transaction (P1001) see it', async () => {
    const database = openDatabase({ provider: 'postgresql', url: 'postgresql://root@127.0.0.1:1/none' }, { timeouts });
    try {
      const raw = await rejection(database.ping());
      const model = await rejection(database.prisma.apiKey.findUnique({ where: { id: 'x' } }));
      const inTransaction = await rejection(database.transaction((tx) => tx.apiKey.findUnique({ where: { id: 'x' } })));
      expect([raw, model, inTransaction].map((e) => (e as { code: string }).code)).toEqual(['P2010', 'P1001', 'P1001']);
      for (const error of [raw, model, inTransaction]) expect(databaseUnavailableReason(error)).toMatch(/^(P1001|DatabaseNotReachable)$/);
    } finally {
      await database.close();
    }
  });

  it('is true for a silent network: a query whose answer never comes, a connection that never opens', async () => {
    const { proxy, database } = await throughProxy();
    try {
      await database.ping();
      proxy.pause();
      const started = Date.now();
      const unanswered = await rejection(database.prisma.apiKey.findUnique({ where: { id: 'x' } }));
      expect(Date.now() - started).toBeLessThan(timeouts.queryMs + 1000);
      // node-postgres's own errors: no code, only a message.
      expect(unanswered).toMatchObject({ message: 'Query read timeout' });
      const neverOpened = await rejection(database.ping());
      expect(neverOpened).toMatchObject({ message: 'Connection terminated due to connection timeout' });
      for (const error of [unanswered, neverOpened]) expect(isDatabaseUnavailable(error)).toBe(true);
      proxy.resume();
      await database.ping();
    } finally {
      proxy.resume();
      await database.close();
      await proxy.close();
    }
  });

  it("is true for node-postgres's own 57P01 error event and a pool with no free connection", async () => {
    const client = new pg.Client({ connectionString: db.config.url });
    const event = new Promise<unknown>((resolve) => client.on('error', resolve));
    await client.connect();
    await terminateBackends();
    const terminated = await event;
    expect(terminated).toMatchObject({ code: '57P01', severity: 'FATAL' });
    expect(isDatabaseUnavailable(terminated)).toBe(true);
    await client.end().catch(() => undefined);

    const pool = new pg.Pool({ connectionString: db.config.url, max: 1, connectionTimeoutMillis: 200 });
    try {
      const busy = pool.query('SELECT pg_sleep(1)');
      const waited = await rejection(pool.query('SELECT 1'));
      expect(waited).toMatchObject({ message: 'timeout exceeded when trying to connect' });
      expect(isDatabaseUnavailable(waited)).toBe(true);
      await busy;
    } finally {
      await pool.end();
    }
  });

  it('is false for errors that retrying does not cure: a unique violation, a bad query, a missing database', async () => {
    const database = openDatabase(db.config, { timeouts });
    const missing = openDatabase({ provider: 'postgresql', url: `${postgresAdminUrl}_no_such_database` }, { timeouts });
    try {
      await database.prisma.tenant.create(tenant('taken'));
      const unique = await rejection(database.prisma.tenant.create(tenant('taken')));
      expect(isUniqueViolation(unique)).toBe(true);
      const badQuery = await rejection(database.prisma.$queryRawUnsafe('SELEC 1'));
      const noDatabase = await rejection(missing.ping());
      expect(noDatabase).toMatchObject({ code: 'P2010' });
      for (const error of [unique, badQuery, noDatabase]) expect(isDatabaseUnavailable(error)).toBe(false);
    } finally {
      await database.close();
      await missing.close();
    }
  });

  it('databaseRefusalReason names a refusal for the data (classes 22 and 23), and no outage', async () => {
    const database = openDatabase(db.config, { timeouts });
    try {
      const overflow = await rejection(database.prisma.$queryRaw`SELECT 9223372036854775807::bigint + ${1}::bigint`);
      await database.prisma.tenant.upsert({ where: { id: 'named' }, create: tenant('named').data, update: {} });
      const notNull = await rejection(database.prisma.$executeRawUnsafe('UPDATE "tenants" SET "name" = NULL'));
      const plan = new WritePlan();
      plan.execute(Prisma.sql`SELECT ${'1e300'}::bigint`);
      const badInput = await rejection(database.write(plan));
      expect([overflow, notNull, badInput].map(databaseRefusalReason)).toEqual(['22003', '23502', '22P02']);
      const timedOut = await rejection(database.prisma.$queryRawUnsafe('SELECT pg_sleep(2)'));
      expect(isDatabaseUnavailable(timedOut)).toBe(true);
      for (const error of [timedOut, await rejection(database.prisma.$queryRawUnsafe('SELEC 1'))]) expect(databaseRefusalReason(error)).toBeNull();
    } finally {
      await database.close();
    }
  });
});
