/**
 * Applies the versioned SQL migrations in prisma/<provider>/migrations, in name order, each in its
 * own transaction and each once, recording them in Prisma's `_prisma_migrations` table exactly as
 * `prisma migrate deploy` would (checksum = SHA-256 of migration.sql), so either tool can take
 * over a database the other started. Prisma's migrate engine cannot run offline; this can.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig, DatabaseProvider } from '../config';
import { dialectFor } from './dialects';
import type { MigrationFile } from './dialects/dialect';

/** prisma/ at the package root (the same relative path from src/data and dist/data). */
const PRISMA_DIR = path.join(__dirname, '..', '..', 'prisma');

/** Raised when migrations cannot be applied; the database is left as it was before the failure. */
export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export interface MigrateResult {
  /** Names of the migrations applied by this call (empty when the database was up to date). */
  applied: string[];
}

/** The migration folder of a provider. */
export function migrationsDir(provider: DatabaseProvider): string {
  return path.join(PRISMA_DIR, provider, 'migrations');
}

/** Reads every migration of a provider, sorted by folder name (timestamp first). */
export function readMigrationFiles(dir: string): MigrationFile[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(dir, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Brings the database up to date. Safe to call from several processes at once. */
export async function migrate(
  config: DatabaseConfig,
  options: { dir?: string; log?: (message: string) => void } = {},
): Promise<MigrateResult> {
  const files = readMigrationFiles(options.dir ?? migrationsDir(config.provider));
  const connection = await dialectFor(config.provider).openMigrationConnection(config);
  try {
    return await connection.withLock(async () => {
      await connection.ensureBookkeepingTable();
      const applied = await connection.appliedMigrations();
      const known = new Map(files.map((file) => [file.name, file]));
      for (const row of applied) {
        if (row.rolledBackAt) continue;
        if (!row.finishedAt) {
          throw new MigrationError(
            `Migration ${row.name} started earlier but never finished. Inspect the database, then mark it with \`prisma migrate resolve\` before starting Keyward again.`,
          );
        }
        const file = known.get(row.name);
        if (file && file.checksum !== row.checksum) {
          throw new MigrationError(
            `Migration ${row.name} was changed after it was applied (checksum mismatch). Restore the original migration.sql and add a new migration instead.`,
          );
        }
      }
      const done = new Set(applied.filter((r) => r.finishedAt && !r.rolledBackAt).map((r) => r.name));
      const pending = files.filter((file) => !done.has(file.name));
      const appliedNow: string[] = [];
      for (const migration of pending) {
        let applied: boolean;
        try {
          applied = await connection.apply(migration);
        } catch (error) {
          throw new MigrationError(
            `Migration ${migration.name} failed and was rolled back; the database is unchanged by it. Cause: ${(error as Error).message}`,
            { cause: error },
          );
        }
        if (applied) {
          appliedNow.push(migration.name);
          options.log?.(`applied migration ${migration.name}`);
        }
      }
      return { applied: appliedNow };
    });
  } finally {
    await connection.close();
  }
}
