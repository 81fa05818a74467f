/**
 * What `npm run bench:seed` and `npm run bench:pages` share: which database (DATABASE_URL, or a
 * SQLite file, by default bench-data/keyward-bench.db), fixed secrets, and the people the seed
 * creates. Benchmark data only: never point these scripts at a real database.
 */
import path from 'node:path';
import { parseConfig, type ResolvedConfig } from '../config';

/** The seeded tenant. */
export const BENCH_TENANT_SLUG = 'bench';
/** The seeded tenant owner (also a platform admin), signed in by bench:pages. */
export const BENCH_ADMIN = { email: 'bench-admin@keyward.test', password: 'bench password, not a secret' };
/** The default SQLite file, relative to the working directory. */
export const DEFAULT_BENCH_FILE = path.join('bench-data', 'keyward-bench.db');

/** Configuration of the benchmark database: DATABASE_URL when set, else the SQLite file `file`. */
export function benchConfig(file: string = DEFAULT_BENCH_FILE, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const url = env.DATABASE_URL || `file:${path.resolve(file)}`;
  // The page benchmark calls the management API far more often than a person would.
  const keyHashSecret = 'bench-key-hash-secret-'.padEnd(48, 'k');
  const sessionSecret = 'bench-session-secret-'.padEnd(48, 's');
  const base = parseConfig({
    DATABASE_URL: url,
    LOG_LEVEL: 'silent',
    KEY_HASH_SECRET: keyHashSecret,
    SESSION_SECRET: sessionSecret,
    MANAGEMENT_RATE_LIMIT_PER_MINUTE: '100000',
  });
  return { ...base, keyHashSecret, sessionSecret, secretsFile: null };
}

/** A database description for messages (never the password of a URL). */
export function describeDatabase(config: ResolvedConfig): string {
  if (config.database.provider === 'sqlite') return `SQLite ${config.database.sqlitePath}`;
  const url = new URL(config.database.url);
  return `PostgreSQL ${url.host}${url.pathname}`;
}
