import { ConfigError, loadConfig, type ResolvedConfig } from './config';
import { resolveSecrets } from './config/local-secrets';
import { MigrationError, migrate } from './data/migrations';
import type { Logger } from './logger';

/** Reads and validates the environment, and fills in SQLite-local secrets (generated on first start). */
export function readConfig(): ResolvedConfig {
  return resolveSecrets(loadConfig());
}

/**
 * What both entry points (server and CLI) do first: read and validate the environment, fill in
 * SQLite-local secrets, and bring the database schema up to date (`log` hears each migration applied).
 */
export async function prepare(log: (message: string) => void, config: ResolvedConfig = readConfig()): Promise<ResolvedConfig> {
  await migrate(config.database, { log });
  return config;
}

/**
 * Reports a startup failure people can act on (no stack for known failures) and exits 1: as a
 * log line through `logger` (the server: JSON unless LOG_FORMAT=pretty), or as text on stderr
 * (the CLI, whose stdout holds only its result).
 */
export function exitOnStartupError(error: unknown, logger?: Logger): never {
  if (logger) {
    if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, error.message);
    else if (error instanceof MigrationError) logger.fatal(error.message);
    else logger.fatal({ err: error }, 'could not start');
  } else if (error instanceof ConfigError || error instanceof MigrationError) {
    process.stderr.write(`keyward: ${error.message}\n`);
  } else {
    process.stderr.write(`keyward: could not start: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exit(1);
}
