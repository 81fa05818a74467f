import type { DatabaseConfig, DatabaseProvider } from '../config';
import type { Db, Prisma, Tx } from './client-types';
import { dialectFor } from './dialects';
import type { Dialect } from './dialects/dialect';

/** The app's handle on its database: the Prisma client plus provider-specific strategies. */
export interface Database {
  readonly provider: DatabaseProvider;
  readonly prisma: Db;
  /** A case-insensitive substring filter for this provider. */
  containsText(text: string): Prisma.StringFilter;
  /** Provider-specific pieces of raw SQL (see dialects/dialect.ts). */
  readonly sql: Pick<Dialect, 'typed' | 'lockApiKeys'>;
  /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Opens the database named by the configuration (migrations are applied separately). */
export function openDatabase(config: DatabaseConfig): Database {
  const dialect = dialectFor(config.provider);
  const prisma = dialect.createClient(config);
  return {
    provider: config.provider,
    prisma,
    containsText: (text) => dialect.containsText(text),
    sql: { typed: dialect.typed, lockApiKeys: dialect.lockApiKeys },
    transaction: (fn) => prisma.$transaction(fn, { maxWait: 10_000, timeout: 20_000 }),
    ping: async () => {
      await prisma.$queryRawUnsafe('SELECT 1');
    },
    close: () => prisma.$disconnect(),
  };
}
