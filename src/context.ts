/**
 * Builds the app's services once, from configuration: the database, the key service, the people
 * directory, and what the /api guard shares (key cache, limits, usage buffer). server.ts, the CLI
 * and tests all start from here.
 */
import { PasswordHasher } from './auth/password';
import type { ResolvedConfig } from './config';
import type { CatalogModel } from './config/model-catalog';
import { createDashboardServices, type DashboardServices } from './dashboard/dashboard-services';
import { type Database, openDatabase } from './data/database';
import { writeUsageBatch } from './data/repositories/usage';
import type { KeyEventBus } from './keys/key-events';
import { KeyHasher } from './keys/key-hasher';
import { KeyService } from './keys/key-service';
import type { LimitBackend } from './limits/limits';
import { createLogger, type Logger } from './logger';
import type { HealthCheck } from './routes/health';
import { type CachedKeyStore, cachedKeyStore } from './middleware/key-store';
import { createSharedState } from './shared-state';
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
  /** Sessions, sign-in and account actions of the dashboard. */
  dashboard: DashboardServices;
  /** What GET /healthz reports: the database (critical) and shared stores (Redis). */
  health: HealthCheck[];
  /** Resolves once shared stores (Redis) answer, or after a short wait. */
  ready(): Promise<void>;
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
  const shared = createSharedState(config, { database, logger });
  const keyEvents = shared.keyEvents;
  const passwords = overrides.passwords ?? new PasswordHasher();
  const hasher = new KeyHasher({ 1: config.keyHashSecret });
  const keys = new KeyService({ database, hasher, keyPrefix: config.keyPrefix, events: keyEvents, clock: overrides.clock });

  const limits = overrides.limits ?? shared.limits;
  const usage = new UsageBuffer(
    { write: (batch) => writeUsageBatch(database, batch) },
    {
      intervalMs: config.api.usageFlushIntervalMs,
      onError: (error) => logger.error({ err: error }, 'writing usage failed; kept for the next attempt'),
    },
  );
  usage.start();
  const keyStore = cachedKeyStore(
    { findKey: (id) => keys.findById(id) },
    { events: keyEvents, ttlMs: config.api.keyCacheTtlMs, bypass: shared.cacheUnsafe },
  );
  shared.onMissedChanges(() => keyStore.clear());
  keyEvents.subscribe((change) => {
    if (change.kind !== 'usage_reset') return;
    usage.dropCounters(change.keyId);
    // The instance that made the change resets the shared counters; the others only their own.
    if (!change.remote) limits.ledger.reset(change.keyId).catch((error) => logger.error({ err: error }, 'resetting limits failed'));
  });

  const users = new UserService(database, passwords);

  return {
    config,
    logger,
    database,
    keyEvents,
    hasher,
    keys,
    tenants: new TenantService(database),
    users,
    passwords,
    keyStore,
    limits,
    usage,
    models: new Map(config.llm.models.map((m) => [m.id, m])),
    dashboard: createDashboardServices({ config, database, users, limits, clock: overrides.clock }),
    health: [
      {
        name: 'database',
        critical: true,
        check: async () => {
          await database.ping();
          return { status: 'up' };
        },
      },
      ...shared.health,
    ],
    ready: () => shared.ready(),
    close: async () => {
      keyStore.close();
      try {
        await usage.stop();
        await limits.close();
      } finally {
        await shared.close();
        await database.close();
      }
    },
  };
}
