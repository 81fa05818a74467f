import { ConfigError, loadConfig, type ResolvedConfig } from './config';
import { resolveSecrets } from './config/local-secrets';
import { MigrationError, migrate } from './data/migrations';

/**
 * What both entry points (server and CLI) do first: read and validate the environment, fill in
 * SQLite-local secrets, and bring the database schema up to date.
 */
export async function prepare(log: (message: string) => void): Promise<ResolvedConfig> {
  const config = resolveSecrets(loadConfig());
  await migrate(config.database, { log });
  return config;
}

/** Prints a startup failure people can act on (no stack for known failures) and exits 1. */
export function exitOnStartupError(error: unknown): never {
  if (error instanceof ConfigError || error instanceof MigrationError) {
    process.stderr.write(`keyward: ${error.message}\n`);
  } else {
    process.stderr.write(`keyward: could not start: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exit(1);
}
