/**
 * Throwaway databases for tests: a SQLite file in a temp folder, and (when TEST_DATABASE_URL
 * points at a PostgreSQL server) a database of its own per call, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { DatabaseConfig, DatabaseProvider } from '../../src/config';

export interface TestDatabase {
  config: DatabaseConfig;
  drop(): Promise<void>;
}

export const postgresAdminUrl = process.env.TEST_DATABASE_URL;

/** The providers the suite can test here: SQLite always, PostgreSQL when configured. */
export const availableProviders: DatabaseProvider[] = postgresAdminUrl ? ['sqlite', 'postgresql'] : ['sqlite'];

/** `describe` for PostgreSQL-only suites: skipped (with a notice from global setup) when unset. */
export const describePostgres = postgresAdminUrl ? describe : describe.skip;

export function tempDir(prefix = 'keyward-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = tempDir();
  const sqlitePath = path.join(dir, 'keyward.db');
  return {
    config: { provider: 'sqlite', url: `file:${sqlitePath}`, sqlitePath },
    drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export async function createPostgresDatabase(): Promise<TestDatabase> {
  if (!postgresAdminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `keyward_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return {
    config: { provider: 'postgresql', url: url.toString() },
    drop: async () => {
      const client = new pg.Client({ connectionString: postgresAdminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export function createTestDatabase(provider: DatabaseProvider): Promise<TestDatabase> {
  return provider === 'postgresql' ? createPostgresDatabase() : createSqliteDatabase();
}
