/**
 * Builds the app's services once, from configuration: the database, the key service, the people
 * directory, and what the /api guard shares (key cache, limits, usage buffer). server.ts, the CLI
 * and tests all start from here.
 */
import { PasswordHasher } from './auth/password';
import type { ResolvedConfig } from './config';
import type { CatalogModel } from './config/model-catalog';
import { type Database, openDatabase } from './data/database';
import { lowerCeilings, raiseCeiling, writeUsageBatch } from './data/repositories/usage';
import { type KeyEventBus, LocalKeyEventBus } from './keys/key-events';
import { KeyHasher } from './keys/key-hasher';
import { KeyService } from './keys/key-service';
import type { CeilingStore } from './limits/ledger';
import { createMemoryLimits, type LimitBackend } from './limits/limits';
import { createLogger, type Logger } from './logger';
import { type CachedKeyStore, cachedKeyStore } from './middleware/key-store';
import { TenantService } from './tenants/tenant-service';
import { UsageBuffer } from './usage/usage-buffer';
import { UserService } from './users/user-service';

export interface AppContext {
  config: ResolvedConfig;
  logger: Logger;
  database: Database;
  keyEvents: KeyEventBus;
  hasher: KeyHasher;
  keys: KeyService;
  tenants: TenantService;
  users: UserService;
  passwords: PasswordHasher;
  /** What the /api guard shares between routes. */
  keyStore: CachedKeyStore;
  limits: LimitBackend;
  usage: UsageBuffer;
  models: ReadonlyMap<string, CatalogModel>;
  /** Writes buffered usage, settles ledgers, and releases every resource. */
  close(): Promise<void>;
}

export interface ContextOverrides {
  logger?: Logger;
  passwords?: PasswordHasher;
  clock?: () => Date;
  limits?: LimitBackend;
}

/** Wires the services for a configuration. Migrations must have been applied. */
export function createContext(config: ResolvedConfig, overrides: ContextOverrides = {}): AppContext {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const database = openDatabase(config.database);
  const keyEvents = new LocalKeyEventBus();
  const passwords = overrides.passwords ?? new PasswordHasher();
  const hasher = new KeyHasher({ 1: config.keyHashSecret });
  const keys = new KeyService({ database, hasher, keyPrefix: config.keyPrefix, events: keyEvents, clock: overrides.clock });

  const ceilings: CeilingStore = {
    raise: (keyId, kind, periodStart, ceiling) => raiseCeiling(database.prisma, keyId, kind, periodStart, ceiling),
    lower: (entries) => lowerCeilings(database, entries),
  };
  const limits = overrides.limits ?? createMemoryLimits({ ceilings, invalidKeys: config.api.invalidKeys });
  const usage = new UsageBuffer(
    { write: (batch) => writeUsageBatch(database, batch) },
    {
      intervalMs: config.api.usageFlushIntervalMs,
      onError: (error) => logger.error({ err: error }, 'writing usage failed; kept for the next attempt'),
    },
  );
  usage.start();
  const keyStore = cachedKeyStore({ findKey: (id) => keys.findById(id) }, { events: keyEvents, ttlMs: config.api.keyCacheTtlMs });
  keyEvents.subscribe((change) => {
    if (change.kind === 'usage_reset') {
      usage.dropCounters(change.keyId);
      limits.ledger.reset(change.keyId).catch((error) => logger.error({ err: error }, 'resetting limits failed'));
    }
  });

  return {
    config,
    logger,
    database,
    keyEvents,
    hasher,
    keys,
    tenants: new TenantService(database),
    users: new UserService(database, passwords),
    passwords,
    keyStore,
    limits,
    usage,
    models: new Map(config.llm.models.map((m) => [m.id, m])),
    close: async () => {
      keyStore.close();
      try {
        await usage.stop();
        await limits.close();
      } finally {
        await database.close();
      }
    },
  };
}
