import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { DatabaseConfig } from '../../src/config';
import { MigrationError, migrate, migrationsDir, readMigrationFiles } from '../../src/data/migrations';
import { availableProviders, createTestDatabase, type TestDatabase, tempDir } from '../helpers/databases';
import { canonical, introspect } from '../helpers/introspect';
import { expectedTables } from '../helpers/prisma-model';
import { runCli } from '../helpers/processes';

async function query<T>(config: DatabaseConfig, sql: string): Promise<T[]> {
  if (config.provider === 'sqlite') {
    const db = new BetterSqlite3(config.sqlitePath as string, { readonly: true });
    try {
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: config.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A migrations folder holding the real migrations plus `extra` (name -> SQL). */
function migrationsWith(provider: DatabaseConfig['provider'], extra: Record<string, string>): string {
  const dir = tempDir('keyward-migrations-');
  fs.cpSync(migrationsDir(provider), dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

describe.each(availableProviders)('migrations on %s', (provider) => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase(provider);
  });
  afterEach(async () => {
    await db.drop();
  });

  it('build exactly the Prisma schema: tables, columns, types, nullability, indexes, foreign keys', async () => {
    const result = await migrate(db.config);
    expect(result.applied).toEqual(readMigrationFiles(migrationsDir(provider)).map((m) => m.name));
    const actual = canonical(await introspect(db.config));
    const expected = canonical(await expectedTables(provider));
    expect(actual).toEqual(expected);
  });

  it('apply nothing on a second run and keep prisma-compatible bookkeeping', async () => {
    await migrate(db.config);
    expect((await migrate(db.config)).applied).toEqual([]);
    const rows = await query<{ migration_name: string; checksum: string; finished_at: unknown; applied_steps_count: number }>(
      db.config,
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations"',
    );
    const files = readMigrationFiles(migrationsDir(provider));
    expect(rows.map((r) => r.migration_name).sort()).toEqual(files.map((f) => f.name));
    for (const file of files) {
      const row = rows.find((r) => r.migration_name === file.name);
      const sql = fs.readFileSync(path.join(migrationsDir(provider), file.name, 'migration.sql'));
      expect(row?.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row?.finished_at).not.toBeNull();
      expect(Number(row?.applied_steps_count)).toBe(1);
    }
  });

  it('roll a failing migration back completely and refuse with a clear message', async () => {
    await migrate(db.config);
    const dir = migrationsWith(provider, {
      '29990101000000_broken': 'CREATE TABLE "half_done" ("id" TEXT NOT NULL);\nINSERT INTO "no_such_table" VALUES (1);\n',
    });
    const failure = migrate(db.config, { dir });
    await expect(failure).rejects.toBeInstanceOf(MigrationError);
    await expect(failure).rejects.toThrow(/29990101000000_broken failed and was rolled back/);
    const tables = await introspect(db.config);
    expect(tables.map((t) => t.name)).not.toContain('half_done');
    const rows = await query<{ migration_name: string }>(db.config, 'SELECT migration_name FROM "_prisma_migrations"');
    expect(rows.map((r) => r.migration_name)).not.toContain('29990101000000_broken');
  });

  it('refuse a migration that was edited after it was applied', async () => {
    const dir = migrationsWith(provider, { '29990101000000_extra': 'CREATE TABLE "extra" ("id" TEXT NOT NULL);\n' });
    await migrate(db.config, { dir });
    fs.appendFileSync(path.join(dir, '29990101000000_extra', 'migration.sql'), '-- edited\n');
    await expect(migrate(db.config, { dir })).rejects.toThrow(/29990101000000_extra was changed after it was applied/);
  });

  it('are applied once when two processes start migrating at the same moment', async () => {
    const cwd = tempDir();
    const env = {
      DATABASE_URL: db.config.url,
      KEY_HASH_SECRET: 'k'.repeat(40),
      SESSION_SECRET: 's'.repeat(40),
    };
    const [a, b] = await Promise.all([runCli(['migrate'], { cwd, env }), runCli(['migrate'], { cwd, env })]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const files = readMigrationFiles(migrationsDir(provider));
    const appliedLines = (a.stderr + b.stderr).split('\n').filter((line) => line.includes('applied migration'));
    expect(appliedLines).toHaveLength(files.length);
    const rows = await query<{ migration_name: string }>(db.config, 'SELECT migration_name FROM "_prisma_migrations"');
    expect(rows).toHaveLength(files.length);
  });

  it('widen request_log.tokens to bigint keeping every row, its id and the id counter', async () => {
    const widening = '20261214000000_request_log_tokens_bigint';
    const before = tempDir('keyward-migrations-');
    fs.cpSync(migrationsDir(provider), before, { recursive: true });
    fs.rmSync(path.join(before, widening), { recursive: true });
    await migrate(db.config, { dir: before });
    const insert = (at: string, tokens: string) =>
      `INSERT INTO "request_log" ("keyId", "tenantId", "at", "outcome", "status", "ip", "tokens", "costMicroCents", "latencyMs") VALUES ('k', 't', '${at}', 'ok', 200, '192.0.2.1', ${tokens}, 6, 7)`;
    await execute(db.config, [insert('2026-11-30 10:00:00', '5'), insert('2026-11-30 10:00:01', '6'), 'DELETE FROM "request_log" WHERE "tokens" = 6']);
    expect((await migrate(db.config)).applied).toEqual([widening]);
    await execute(db.config, [insert('2026-11-30 10:00:02', '9007199254740991')]);
    const rows = await query<{ id: number | string; tokens: number | string }>(db.config, 'SELECT "id", "tokens" FROM "request_log" ORDER BY "id"');
    expect(rows.map((r) => [Number(r.id), String(r.tokens)])).toEqual([
      [1, '5'],
      [3, '9007199254740991'],
    ]);
  });
});

async function execute(config: DatabaseConfig, statements: string[]): Promise<void> {
  if (config.provider === 'sqlite') {
    const db = new BetterSqlite3(config.sqlitePath as string);
    try {
      for (const sql of statements) db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: config.url });
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}
