/**
 * Builds the app's services once, from configuration: the database, the key service and the
 * people directory. server.ts, the CLI and tests all start from here.
 */
import { PasswordHasher } from './auth/password';
import type { ResolvedConfig } from './config';
import { type Database, openDatabase } from './data/database';
import { LocalKeyEventBus, type KeyEventBus } from './keys/key-events';
import { KeyHasher } from './keys/key-hasher';
import { KeyService } from './keys/key-service';
import { createLogger, type Logger } from './logger';
import { TenantService } from './tenants/tenant-service';
import { UserService } from './users/user-service';

export interface AppContext {
  config: ResolvedConfig;
  logger: Logger;
  database: Database;
  keyEvents: KeyEventBus;
  keys: KeyService;
  tenants: TenantService;
  users: UserService;
  passwords: PasswordHasher;
  /** Releases every resource (database connections). */
  close(): Promise<void>;
}

export interface ContextOverrides {
  logger?: Logger;
  passwords?: PasswordHasher;
  clock?: () => Date;
}

/** Wires the services for a configuration. Migrations must have been applied. */
export function createContext(config: ResolvedConfig, overrides: ContextOverrides = {}): AppContext {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const database = openDatabase(config.database);
  const keyEvents = new LocalKeyEventBus();
  const passwords = overrides.passwords ?? new PasswordHasher();
  const keys = new KeyService({
    database,
    hasher: new KeyHasher({ 1: config.keyHashSecret }),
    keyPrefix: config.keyPrefix,
    events: keyEvents,
    clock: overrides.clock,
  });
  return {
    config,
    logger,
    database,
    keyEvents,
    keys,
    tenants: new TenantService(database),
    users: new UserService(database, passwords),
    passwords,
    close: () => database.close(),
  };
}
